import Testing

/// Every end-to-end suite runs inside this one, one suite at a time. They start real processes and
/// hold real deadlines (handshake, request and heartbeat timeouts); two load-heavy suites side by
/// side on a two-core machine starve each other's processes past those deadlines.
@Suite("End to end", .serialized)
enum EndToEnd {}
