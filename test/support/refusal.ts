/**
 * The field a refusal names: runs `fn` and answers the `field` of what it throws, or `'accepted'`
 * when it throws nothing.
 */
export function refusedField(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (error) {
    return (error as { field?: string }).field;
  }
  return 'accepted';
}
