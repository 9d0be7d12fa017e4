import Crypto
import Foundation
import RMMProtocol
import RMMTestSupport
import Testing

extension EndToEnd {
    /// `X-Forwarded-For` on the agent port, from raw clients on loopback addresses: 127.0.0.2 is
    /// the server's `--trusted-proxy`, 127.0.0.3 is anyone else.
    @Suite("End to end: X-Forwarded-For on the agent port", .serialized)
    struct ForwardedAgentAddressTests {
        /// One well-signed hello for an agent that does not exist, after an upgrade carrying
        /// `headers`: a failed authentication, counted against whoever the server took the client for.
        private func failedHello(_ server: E2EServer, from source: String, headers: [String]) async throws -> (outcome: HostileOutcome, detail: String) {
            let client = try await RawAgentPortClient.connect(port: server.agentPort, from: source)
            if let challenge = try await client.upgrade(extraHeaders: headers) {
                let signature = try AgentProof.sign(nonce: challenge.nonce, agentId: "ag_nobody", key: Curve25519.Signing.PrivateKey())
                try await client.send(Envelope(.hello(Hello(agentId: "ag_nobody", signature: signature, facts: malloryFacts, stream: "s", received: nil))))
            }
            return await client.end(within: .seconds(20))
        }

        private func answer(_ server: E2EServer, from source: String, request: String) async throws -> (outcome: HostileOutcome, detail: String) {
            let client = try await RawAgentPortClient.connect(port: server.agentPort, from: source)
            await client.send(Array(request.utf8))
            return await client.end(within: .seconds(20))
        }

        @Test("a stranger's X-Forwarded-For is ignored; a trusted proxy's names the client the limits count, and a malformed one gets 400")
        func forwardedFor() async throws {
            let server = try await E2EServer.start(["--trusted-proxy", "127.0.0.2/32", "--max-failed-auth-per-minute", "2"])
            do {
                // A stranger claiming other addresses is still counted as itself, and blocked as itself.
                for claimed in ["198.51.100.7", "198.51.100.8"] {
                    let (outcome, detail) = try await failedHello(server, from: "127.0.0.3", headers: ["X-Forwarded-For: \(claimed)"])
                    #expect(outcome == .close(.authenticationFailed), "\(detail)")
                }
                let blocked = try await failedHello(server, from: "127.0.0.3", headers: ["X-Forwarded-For: 198.51.100.9"])
                #expect(blocked.outcome == .close(.rateLimited))
                #expect(blocked.detail.hasPrefix("too many failed authentications from 127.0.0.3 "), "\(blocked.detail)")

                // Through the trusted proxy the client it names is the one counted: 127.0.0.3 is
                // blocked, another client is not, nor is the proxy.
                let named = try await failedHello(server, from: "127.0.0.2", headers: ["X-Forwarded-For: 198.51.100.66, 127.0.0.3"])
                #expect(named.outcome == .close(.rateLimited))
                #expect(named.detail.hasPrefix("too many failed authentications from 127.0.0.3 "), "\(named.detail)")
                let other = try await failedHello(server, from: "127.0.0.2", headers: ["X-Forwarded-For: 198.51.100.10"])
                #expect(other.outcome == .close(.authenticationFailed), "\(other.detail)")
                let itself = try await failedHello(server, from: "127.0.0.2", headers: [])
                #expect(itself.outcome == .close(.authenticationFailed), "the proxy's own requests are its own: \(itself.detail)")

                // A trusted proxy's unreadable header is refused, on the upgrade and on a poll.
                for header in ["X-Forwarded-For: 198.51.100.7, not-an-address", "X-Forwarded-For: " + String(repeating: "1", count: 3000)] {
                    let upgrade = try await answer(server, from: "127.0.0.2", request: RawWebSocket.upgradeRequest(extraHeaders: [header]))
                    #expect(upgrade.outcome == .http(400), "\(upgrade.detail)")
                    #expect(upgrade.detail.contains("X-Forwarded-For") && upgrade.detail.contains("--trusted-proxy"), "\(upgrade.detail)")
                    let poll = try await answer(server, from: "127.0.0.2", request: "GET /agent/downlink/c1?after=0 HTTP/1.1\r\nHost: t\r\n\(header)\r\n\r\n")
                    #expect(poll.outcome == .http(400) && poll.detail.contains("X-Forwarded-For"), "\(poll.detail)")
                }
                // The same from a stranger is not read at all: the usual answer.
                let ignored = try await answer(server, from: "127.0.0.3", request: "GET / HTTP/1.1\r\nHost: t\r\nX-Forwarded-For: not-an-address\r\n\r\n")
                #expect(ignored.outcome == .http(400) && ignored.detail.contains("This is the GuruRMM agent port"), "\(ignored.detail)")
            } catch {
                Issue.record("\(error)\n---- server ----\n\(server.process.logContents().suffix(6000))")
            }
            await server.stop()
        }
    }
}
