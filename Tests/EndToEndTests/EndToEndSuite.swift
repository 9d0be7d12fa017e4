import Testing

/// Every end-to-end suite runs inside this one, one suite at a time. They start real processes and
/// hold real deadlines (handshake, request and heartbeat timeouts); two load-heavy suites side by
/// side on a two-core machine starve each other's processes past those deadlines. A test that
/// hangs fails after ten minutes (the longest takes about two) instead of stalling the run.
@Suite("End to end", .serialized, .timeLimit(.minutes(10)))
enum EndToEnd {}
