import Foundation

/// What an operator asks to run.
public struct RunRequest: Codable, Sendable {
    public var agents: [String]?
    public var all: Bool?
    /// Shell command line (run with `/bin/sh -c`).
    public var command: String?
    /// Script body (run with `interpreter`).
    public var script: String?
    public var interpreter: String?
    public var timeoutSeconds: Double?
    public var expiresSeconds: Double?
    /// False: the answer lists no commands, only how many were created (`command_count`), for a
    /// client that learns each command from the batch's streams. Absent or true: every command.
    public var listCommands: Bool?

    public init(agents: [String]?, all: Bool?, command: String?, script: String?, interpreter: String?, timeoutSeconds: Double?, expiresSeconds: Double?,
                listCommands: Bool? = nil) {
        self.listCommands = listCommands
        self.agents = agents
        self.all = all
        self.command = command
        self.script = script
        self.interpreter = interpreter
        self.timeoutSeconds = timeoutSeconds
        self.expiresSeconds = expiresSeconds
    }
}
