import Foundation
import RMMTransport

/// How an agent runs.
public struct AgentOptions: Sendable {
    public var endpoint: ServerEndpoint
    public var stateDirectory: String
    public var enrollToken: String?
    public var name: String?
    public var version: String
    /// Backoff between reconnects: starts here, doubles, capped at `maxBackoff`, with full jitter.
    public var minBackoff: Double = 0.5
    public var maxBackoff: Double = 30

    public init(endpoint: ServerEndpoint, stateDirectory: String, enrollToken: String?, name: String?, version: String) {
        self.endpoint = endpoint
        self.stateDirectory = stateDirectory
        self.enrollToken = enrollToken
        self.name = name
        self.version = version
    }
}
