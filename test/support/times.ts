/** Runs `make(0)`, `make(1)`, … `make(n - 1)` one after another (so jobs get increasing queue times). */
export async function times<T>(n: number, make: (i: number) => Promise<T>): Promise<T[]> {
  const results: T[] = [];
  for (let i = 0; i < n; i++) results.push(await make(i));
  return results;
}
