/// How a verdict's origin reads to an operator, the same in the API's sentences and the CLI:
/// where on the connection's life the evidence was taken, and who took it.
public enum LinkProvenance {
    /// "at the challenge, from the handshake (claimed by the agent)", "in session, from a server probe", …
    public static func words(stage: LinkStage, source: LinkVerdictSource) -> String {
        "\(words(stage)), \(words(source))"
    }

    /// Where on the connection's life.
    public static func words(_ stage: LinkStage) -> String {
        switch stage {
        case .tls: "at TLS"
        case .challenge: "at the challenge"
        case .welcome: "at the welcome"
        case .session: "in session"
        }
    }

    /// Who found it.
    public static func words(_ source: LinkVerdictSource) -> String {
        switch source {
        case .serverProbe: "from a server probe"
        case .agentReport: "from the agent's report"
        case .handshake: "from the handshake (claimed by the agent)"
        }
    }
}
