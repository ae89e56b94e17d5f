/** @jsxImportSource hono/jsx */
// JSX server templates: checked with Hono's JSX, one of the two the text names.
