import Foundation
import RMMProtocol
import Testing

/// An error whose description a peer chose.
private struct Failure: Error, CustomStringConvertible {
    var description: String { "bad\nthing" }
}

@Suite("Logged values from the network")
struct LogSafeTests {
    @Test("a 10 MB value with newlines and ANSI escapes becomes one short, escaped line")
    func hostileValue() {
        let line = "forged\n2026-01-01 INFO all is well\r\u{1B}[2J\u{1B}[31mred\u{07}"
        let hostile = line + String(repeating: "x", count: 10_000_000)
        let started = ContinuousClock.now
        let safe = LogSafe.text(hostile)
        #expect(ContinuousClock.now - started < .seconds(1), "only the kept prefix is read")
        #expect(safe.unicodeScalars.count <= LogSafe.defaultLimit + 30)
        #expect(!safe.unicodeScalars.contains { $0.properties.generalCategory == .control })
        #expect(safe.hasPrefix(#"forged\n2026-01-01 INFO all is well\r\u{1b}[2J\u{1b}[31mred\u{7}xxx"#), "\(safe)")
        #expect(safe.hasSuffix("…[+\(hostile.utf8.count - (line.utf8.count + (LogSafe.defaultLimit - 64))) bytes]"), "\(safe)")
    }

    @Test("short plain text is unchanged; backslashes, tabs and bidi overrides are escaped")
    func escaping() {
        #expect(LogSafe.text("ag_123 web-1.example") == "ag_123 web-1.example")
        #expect(LogSafe.text("naïve ☃ 日本") == "naïve ☃ 日本")
        #expect(LogSafe.text(#"C:\dir"#) == #"C:\\dir"#, "a backslash is doubled, so an escape in the log is never ambiguous")
        #expect(LogSafe.text("a\tb") == #"a\tb"#)
        #expect(LogSafe.text("evil\u{202E}txt") == #"evil\u{202e}txt"#)
        #expect(LogSafe.text("") == "")
    }

    @Test("the cut never splits an escape, and says how many bytes were left out")
    func cut() {
        #expect(LogSafe.text("abcdef", limit: 3) == "abc…[+3 bytes]")
        #expect(LogSafe.text("ab\ncd", limit: 3) == "ab…[+3 bytes]", "\\n takes two characters, so it does not fit in the third")
        #expect(LogSafe.text("日本語", limit: 2) == "日本…[+3 bytes]")
        #expect(LogSafe.text("abc", limit: 3) == "abc")
        #expect(LogSafe.describe(Failure(), limit: 10) == #"bad\nthing"#)
        #expect(LogSafe.describe(Failure(), limit: 9) == #"bad\nthin…[+1 bytes]"#)
    }
}
