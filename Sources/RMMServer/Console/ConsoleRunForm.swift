import Foundation
import RMMAPI
import RMMProtocol

/// The agent page's run form read into the API's `RunRequest`: a shell command or a script (with
/// the interpreter chosen), and a timeout checked against the API's bounds. Pure: each bad field
/// is a 400 saying what was wrong, never a silent default.
struct ConsoleRunForm: Sendable, Equatable {
    var command: String?
    var script: String?
    var interpreter: String?
    /// Nil when the field was left empty: `CommandService`'s default applies, as for the API.
    var timeoutSeconds: Double?

    /// Most characters of the timeout field read (a number of seconds needs far fewer).
    static let maxTimeoutText = 32

    init(command: String?, script: String?, interpreter: String?, timeoutSeconds: Double?) {
        self.command = command
        self.script = script
        self.interpreter = interpreter
        self.timeoutSeconds = timeoutSeconds
    }

    init(_ form: ConsoleForm) throws(RequestError) {
        let command = form["command"] ?? ""
        // A browser sends a textarea's line breaks as CRLF; the script runs as typed on a Unix shell.
        let script = (form["script"] ?? "").replacingOccurrences(of: "\r\n", with: "\n")
        self.command = command.trimmingCharacters(in: .whitespaces).isEmpty ? nil : command
        self.script = script.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty ? nil : script
        switch (self.command, self.script) {
        case (nil, nil): throw RequestError(400, "type a command or a script to run")
        case (.some, .some): throw RequestError(400, "give a command or a script, not both")
        default: break
        }
        // The select always sends one; it means something only for a script (the API refuses it on a command).
        interpreter = self.script == nil ? nil : form["interpreter"].flatMap { $0.isEmpty ? nil : $0 }
        timeoutSeconds = try Self.timeout(form["timeout"])
    }

    /// The timeout field: empty for the default, else a plain decimal number of seconds within
    /// `WorkLimits` (the API's bounds). Hex (`0x10`), `nan`, `inf`, signs past the first character
    /// and text `Double` would read loosely are refused with the text as typed.
    static func timeout(_ field: String?) throws(RequestError) -> Double? {
        let text = (field ?? "").trimmingCharacters(in: .whitespaces)
        if text.isEmpty { return nil }
        let bounds = "between \(WorkLimits.minTimeoutSeconds) and \(Int(WorkLimits.maxTimeoutSeconds)) seconds"
        let shown = LogSafe.text(text, limit: maxTimeoutText)
        let decimal = text.utf8.enumerated().allSatisfy { index, byte in
            (byte >= 0x30 && byte <= 0x39) || byte == 0x2E || byte == 0x65 || byte == 0x45 || ((byte == 0x2D || byte == 0x2B) && index == 0)
        }
        guard text.utf8.count <= maxTimeoutText, decimal, let value = Double(text), value.isFinite else {
            throw RequestError(400, "the timeout '\(shown)' is not a number of seconds; give one \(bounds)")
        }
        guard (WorkLimits.minTimeoutSeconds...WorkLimits.maxTimeoutSeconds).contains(value) else {
            throw RequestError(400, "the timeout \(shown) is out of range; give a number of seconds \(bounds)")
        }
        return value
    }

    /// The API's request for one agent.
    func request(agentId: String) -> RunRequest {
        RunRequest(agents: [agentId], all: nil, command: command, script: script, interpreter: interpreter, timeoutSeconds: timeoutSeconds, expiresSeconds: nil)
    }

    /// What the audit entry says was run: the command's start, or the script's size and interpreter.
    var auditText: String {
        if let command { return "shell: " + String(command.prefix(200)) }
        return "script of \(script?.utf8.count ?? 0) bytes (\(interpreter ?? "default interpreter"))"
    }
}
