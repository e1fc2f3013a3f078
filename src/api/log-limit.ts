// Rate limits for log lines a client can cause at will (failed TLS
// handshakes, refused requests): the first is logged at once, later ones at
// most once per interval with the number left out in between.

/** Calls emit(suppressed) at most once per intervalMs; suppressed counts the events dropped since the last emit. */
export function rateLimited(intervalMs: number, now: () => number = Date.now): (emit: (suppressed: number) => void) => void {
  let lastMs = -Infinity;
  let suppressed = 0;
  return (emit) => {
    const t = now();
    if (t - lastMs < intervalMs) {
      suppressed++;
      return;
    }
    lastMs = t;
    const dropped = suppressed;
    suppressed = 0;
    emit(dropped);
  };
}
