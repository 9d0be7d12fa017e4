import Foundation
import RMMProtocol
import Testing

@testable import RMMServer

/// The agent page's run form: a command or a script, and a timeout refused unless it is a number within the API's bounds.
@Suite("Console run form")
struct ConsoleRunFormTests {
    func form(_ fields: [(String, String)]) -> ConsoleForm {
        ConsoleForm(parsing: fields.map { "\($0.0)=\($0.1.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? "")" }.joined(separator: "&"))
    }

    /// "status message" of the `RequestError` `body` throws; nil when it throws none.
    func refusal(_ body: () throws -> Any?) -> String? {
        do { _ = try body(); return nil } catch let error as RequestError { return "\(error.status) \(error.message)" } catch { return "\(error)" }
    }

    @Test("a command, or a script with its interpreter (CRLF made LF); an empty timeout leaves the API's default")
    func reads() throws {
        let command = try ConsoleRunForm(form([("command", "uptime"), ("script", ""), ("interpreter", "/bin/sh"), ("timeout", "90")]))
        #expect(command == ConsoleRunForm(command: "uptime", script: nil, interpreter: nil, timeoutSeconds: 90))
        #expect(command.auditText == "shell: uptime")
        let script = try ConsoleRunForm(form([("command", " "), ("script", "echo a\r\necho b\r\n"), ("interpreter", "/bin/bash"), ("timeout", "")]))
        #expect(script == ConsoleRunForm(command: nil, script: "echo a\necho b\n", interpreter: "/bin/bash", timeoutSeconds: nil))
        #expect(script.request(agentId: "a1").script == "echo a\necho b\n" && script.request(agentId: "a1").agents == ["a1"])
        #expect(script.auditText == "script of 14 bytes (/bin/bash)")
        #expect(try ConsoleRunForm.timeout("0.001") == 0.001 && ConsoleRunForm.timeout("604800") == 604_800 && ConsoleRunForm.timeout(" 1.5e2 ") == 150)
    }

    @Test("neither or both of command and script is refused")
    func oneOfTwo() {
        #expect(refusal { try ConsoleRunForm(form([("command", ""), ("script", " \r\n")])) } == "400 type a command or a script to run")
        #expect(refusal { try ConsoleRunForm(form([("command", "a"), ("script", "b")])) } == "400 give a command or a script, not both")
    }

    @Test("a timeout that is not a plain number is refused, not defaulted", arguments: ["abc", "nan", "NaN", "inf", "-inf", "0x10", "1e999", "1_000", "1,5", "--1", "1-", "\u{FF11}", String(repeating: "9", count: 33)])
    func notANumber(text: String) {
        #expect(refusal { try ConsoleRunForm.timeout(text) }
                == "400 the timeout '\(LogSafe.text(text, limit: 32))' is not a number of seconds; give one between 0.001 and 604800 seconds")
    }

    @Test("a timeout outside the API's bounds is refused", arguments: ["-5", "0", "0.0001", "604800.5", "1180591620717411303424", "-0"])
    func outOfRange(text: String) {
        #expect(refusal { try ConsoleRunForm.timeout(text) } == "400 the timeout \(text) is out of range; give a number of seconds between 0.001 and 604800 seconds")
    }
}
