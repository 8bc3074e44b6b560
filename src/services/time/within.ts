/** Whether `p` settled (resolved or rejected) within `ms`; never rejects. */
export async function within(p: Promise<unknown>, ms: number): Promise<boolean> {
  if (ms <= 0) return false;
  let t: NodeJS.Timeout | undefined;
  const timedOut = new Promise<false>((resolve) => {
    t = setTimeout(() => resolve(false), ms);
  });
  try {
    return await Promise.race([
      p.then(
        () => true as const,
        () => true as const,
      ),
      timedOut,
    ]);
  } finally {
    clearTimeout(t);
  }
}
