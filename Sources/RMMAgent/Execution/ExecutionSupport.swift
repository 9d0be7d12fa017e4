import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Wall-clock time as the wire carries it.
enum ExecutionClock {
    /// Unix seconds.
    static func unixSeconds() -> Double {
        Date().timeIntervalSince1970
    }
}

/// Readable text for POSIX errors, for failure reasons that must say what went wrong.
enum OSErrorText {
    /// The current errno, described.
    static func current() -> String {
        describe(errno)
    }

    static func describe(_ code: Int32) -> String {
        String(cString: strerror(code)) + " (errno \(code))"
    }
}
