import RMMProtocol
import RMMTransport

/// The agent's side of the handshake as steps, shared by the agent and the fleet simulator: the
/// first message must be the server's challenge, the next its welcome, and the welcome must carry
/// the expected server key and name the agent this one is enrolled as. Pure: the caller reads the
/// link, sends the answer (`HandshakeAnswer`) and carries out the verdict.
public struct ClientHandshake: Sendable {
    /// Where the handshake stands.
    public enum Phase: Sendable, Equatable {
        case awaitingChallenge
        case awaitingWelcome
        case done
    }

    public private(set) var phase = Phase.awaitingChallenge

    public init() {}

    /// What to do after an event from the link.
    public enum Step: Sendable {
        /// Answer this challenge (hello or enroll).
        case answer(Challenge)
        /// Judge this welcome (`judge`).
        case welcome(Welcome)
        /// Something else came, or the link ended: the attempt failed. `challenged`: the challenge
        /// had come (a welcome that never does suggests large packets are lost).
        case failed(challenged: Bool)
    }

    /// Takes the link's next event (nil: the stream ended).
    public mutating func receive(_ event: LinkEvent?) -> Step {
        guard case .message(let envelope)? = event else { return fail() }
        switch (phase, envelope.message) {
        case (.awaitingChallenge, .challenge(let challenge)):
            phase = .awaitingWelcome
            return .answer(challenge)
        case (.awaitingWelcome, .welcome(let welcome)):
            phase = .done
            return .welcome(welcome)
        default:
            return fail()
        }
    }

    private mutating func fail() -> Step {
        let challenged = phase == .awaitingWelcome
        phase = .done
        return .failed(challenged: challenged)
    }

    /// Whether a welcome is taken.
    public enum WelcomeVerdict: Sendable, Equatable {
        case accept
        /// It carries another server key than the expected one: refused for good (possible
        /// interception); close with 4001 and stop.
        case wrongServerKey(String)
        /// It names another agent than the one enrolled (a confused or hostile server or relay):
        /// close with 4001 and reconnect; never adopt it.
        case wrongAgent(String)
    }

    /// Judges a welcome: `expectedKey` from `HandshakeAnswer.expectedServerKey` (nil: pin on first
    /// use), `enrolledAs` the agent id held (nil: enrolling now).
    public static func judge(_ welcome: Welcome, expectedKey: String?, enrolledAs: String?) -> WelcomeVerdict {
        if let mismatch = HandshakeAnswer.keyMismatch(welcome, expected: expectedKey) { return .wrongServerKey(mismatch) }
        if let enrolledAs, enrolledAs != welcome.agentId {
            return .wrongAgent("welcome names agent \(LogSafe.text(welcome.agentId, limit: 80)), but this agent is \(enrolledAs)")
        }
        return .accept
    }
}
