import RMMProtocol
import RMMTransport
import Testing

@testable import RMMAgent

/// The handshake steps the agent and the fleet simulator share, fed events by hand.
@Suite("Agent handshake")
struct ClientHandshakeTests {
    private let challenge = Challenge(nonce: "n", serverVersion: "1")
    private func welcome(agentId: String = "a1", serverKey: String? = "K") -> Welcome {
        Welcome(agentId: agentId, epoch: 1, stream: "s", received: nil, heartbeatId: 1, config: .defaults, serverKey: serverKey)
    }

    @Test("challenge, then welcome")
    func inOrder() {
        var handshake = ClientHandshake()
        guard case .answer(let got) = handshake.receive(.message(Envelope(.challenge(challenge)))) else {
            Issue.record("a challenge must be answered")
            return
        }
        #expect(got.nonce == "n")
        #expect(handshake.phase == .awaitingWelcome)
        guard case .welcome(let welcomed) = handshake.receive(.message(Envelope(.welcome(welcome())))) else {
            Issue.record("a welcome after the challenge must be judged")
            return
        }
        #expect(welcomed.agentId == "a1")
        #expect(handshake.phase == .done)
    }

    @Test("anything else, or the end of the stream, fails; `challenged` says whether the challenge had come")
    func failures() {
        var first = ClientHandshake()
        guard case .failed(challenged: false) = first.receive(.message(Envelope(.welcome(welcome())))) else {
            Issue.record("a welcome before the challenge must fail")
            return
        }
        var second = ClientHandshake()
        _ = second.receive(.message(Envelope(.challenge(challenge))))
        guard case .failed(challenged: true) = second.receive(nil) else {
            Issue.record("a stream that ends after the challenge must fail as challenged")
            return
        }
        var third = ClientHandshake()
        guard case .failed(challenged: false) = third.receive(.closed(LinkClosure(code: nil, reason: "gone", byPeer: true))) else {
            Issue.record("a close before the challenge must fail")
            return
        }
    }

    @Test("a welcome is taken only with the expected server key and for the agent enrolled")
    func judged() {
        #expect(ClientHandshake.judge(welcome(), expectedKey: "K", enrolledAs: "a1") == .accept)
        #expect(ClientHandshake.judge(welcome(), expectedKey: nil, enrolledAs: nil) == .accept, "first use pins")
        guard case .wrongServerKey = ClientHandshake.judge(welcome(serverKey: "X"), expectedKey: "K", enrolledAs: "a1") else {
            Issue.record("another server key must be refused")
            return
        }
        guard case .wrongAgent = ClientHandshake.judge(welcome(agentId: "a2"), expectedKey: "K", enrolledAs: "a1") else {
            Issue.record("a welcome for another agent must be refused")
            return
        }
    }
}
