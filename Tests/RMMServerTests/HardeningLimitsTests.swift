import Crypto
import Foundation
import Logging
import NIOCore
import NIOWebSocket
import RMMProtocol
import RMMStore
import RMMTestSupport
import Synchronization
import Testing
@testable import RMMServer
import RMMTransport

/// Every log line a logger wrote, for checks on what reached the log.
final class CapturedLog: Sendable {
    private let lines = Mutex<[String]>([])

    var all: [String] { lines.withLock { $0 } }

    func logger() -> Logger {
        Logger(label: "captured") { _ in CapturingHandler(log: self) }
    }

    fileprivate func append(_ line: String) {
        lines.withLock { $0.append(line) }
    }
}

/// Writes each message with its metadata as one entry of a `CapturedLog`.
private struct CapturingHandler: LogHandler {
    let log: CapturedLog
    var metadata: Logger.Metadata = [:]
    var logLevel: Logger.Level = .trace

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        let all = metadata.merging(event.metadata ?? [:]) { $1 }
        let fields = all.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " ")
        log.append("\(event.level) \(event.message) \(fields)")
    }
}

@Suite("Hardening: output caps, revocation at attach, logged values")
struct HardeningLimitsTests {
    private let t0 = Fixture.t0

    // MARK: output caps

    /// A session of an agent with this output cap, attached to a test link.
    private func connectedSession(outputCap: Int) async throws -> (store: SQLiteStore, agentId: String, session: AgentSession, link: TestLink) {
        let (store, agents) = try await Fixture.store()
        var config = AgentConfig.defaults
        config.outputCapBytes = outputCap
        let session = AgentSession(agentId: agents[0].id, store: store, feed: ChangeFeed(), settings: ServerSettings(), config: config,
                                   signer: Fixture.signer, logger: Fixture.quietLogger)
        let link = try await TestLink.make()
        await session.attach(link: link.link, epoch: 1, agentStream: "as", peerSaw: nil, now: t0)
        return (store, agents[0].id, session, link)
    }

    @Test("a result's output over the config's cap is cut to the cap and marked truncated when stored")
    func resultOutputIsCapped() async throws {
        let (store, agentId, session, link) = try await connectedSession(outputCap: 1024)
        await session.enqueue(try await Fixture.insert(["big", "small"], agent: agentId, into: store))
        _ = try await link.drain()

        // The agent claims nothing was truncated and sends 5 MB on stdout, 2 KiB on stderr.
        let stdout = Data(repeating: 0x61, count: 5_000_000)
        let stderr = Data(repeating: 0x62, count: 2048)
        await session.handle(Envelope(.result(CommandResult(
            commandId: "big", status: .succeeded, exitCode: 0, stdout: stdout, stderr: stderr, finishedAt: 1
        )), seq: 1), epoch: 1, now: Fixture.at(1))
        let big = try #require(try await store.command(id: "big"))
        #expect(big.state == .succeeded)
        #expect(try await store.output(commandId: "big", stream: .stdout) == stdout.prefix(1024))
        #expect(try await store.output(commandId: "big", stream: .stderr) == stderr.prefix(1024))
        #expect(big.stdoutTruncated && big.stderrTruncated)

        // Output at the cap exactly is kept whole and not marked.
        let exact = Data(repeating: 0x63, count: 1024)
        await session.handle(Envelope(.result(CommandResult(
            commandId: "small", status: .succeeded, exitCode: 0, stdout: exact, finishedAt: 2
        )), seq: 2), epoch: 1, now: Fixture.at(2))
        let small = try #require(try await store.command(id: "small"))
        #expect(try await store.output(commandId: "small", stream: .stdout) == exact)
        #expect(!small.stdoutTruncated && !small.stderrTruncated)
    }

    @Test("a result after streamed output: the stored whole is the cap, never more")
    func resultAfterStreamedOutput() async throws {
        let (store, agentId, session, _) = try await connectedSession(outputCap: 1024)
        await session.enqueue(try await Fixture.insert(["c1"], agent: agentId, into: store))
        let whole = Data((0..<3000).map { UInt8($0 % 251) })
        await session.handle(Envelope(.output(CommandOutput(commandId: "c1", stream: .stdout, offset: 0, data: whole.prefix(600))), seq: 1),
                             epoch: 1, now: Fixture.at(1))
        await session.handle(Envelope(.result(CommandResult(commandId: "c1", status: .failed, exitCode: 1, stdout: whole, finishedAt: 2)), seq: 2),
                             epoch: 1, now: Fixture.at(2))
        #expect(try await store.output(commandId: "c1", stream: .stdout) == whole.prefix(1024))
        #expect(try await store.command(id: "c1")?.stdoutTruncated == true)
    }

    // MARK: revocation

    @Test("a session revoked before its attach refuses the connection with 4006 and keeps none")
    func revokedBeforeAttach() async throws {
        let (store, agents) = try await Fixture.store()
        let registry = SessionRegistry(store: store, feed: ChangeFeed(), settings: ServerSettings(), config: .defaults, signer: Fixture.signer,
                                       logger: Fixture.quietLogger)
        await registry.revoke(agentId: agents[0].id, reason: "agent revoked by an operator")
        let link = try await TestLink.make()
        let session = await registry.session(for: agents[0].id)
        let mailbox = await session.attach(link: link.link, epoch: 1, agentStream: "as", peerSaw: nil, now: t0)
        #expect(mailbox == nil)
        let written = try await link.drain()
        #expect(written == [.close(code: CloseCode.revoked.rawValue, reason: "agent \(agents[0].id) is revoked")], "no welcome: \(written)")
        #expect(await session.connection == nil)
    }

    @Test("revoking closes the attached connection with 4006")
    func revokedAfterAttach() async throws {
        let (_, agentId, session, link) = try await Fixture.attachedSession()
        _ = try await link.drain()
        await session.revoke(reason: "agent revoked by an operator")
        #expect(try await link.drain() == [.close(code: CloseCode.revoked.rawValue, reason: "agent revoked by an operator")])
        let again = try await TestLink.make(port: 50_001)
        #expect(await session.attach(link: again.link, epoch: 2, agentStream: "as", peerSaw: nil, now: Fixture.at(1)) == nil)
        #expect(try await again.drain() == [.close(code: CloseCode.revoked.rawValue, reason: "agent \(agentId) is revoked")])
    }

    @Test("a hello whose lookup happened before the revoke does not attach after it")
    func handshakeInFlightDuringRevoke() async throws {
        var rig = try await HandshakeRig.make()
        let (store, registry, agent) = (rig.store, rig.registry, rig.agent)
        // The operator's revocation lands exactly between the handshake's lookup and its attach.
        let revokedBetween = Mutex(false)
        rig.handshake.afterLookup = { agentId in
            try? await store.revokeAgent(id: agentId, now: Date())
            await registry.revoke(agentId: agentId, reason: "agent revoked by an operator")
            revokedBetween.withLock { $0 = true }
        }
        let link = try await rig.helloToTheEnd()
        #expect(revokedBetween.withLock { $0 })
        let after = try await link.drain()
        #expect(after == [.close(code: CloseCode.revoked.rawValue, reason: "agent \(agent.id) is revoked")], "no welcome: \(after)")
        #expect(await registry.existingSession(for: agent.id)?.connection == nil)
    }

    // MARK: logged values

    @Test("hostile values an agent sends (10 MB, newlines, ANSI escapes) reach the log short and escaped")
    func hostileValuesAreLoggedEscaped() async throws {
        let (store, agents) = try await Fixture.store()
        let agentId = agents[0].id
        let log = CapturedLog()
        let session = AgentSession(agentId: agentId, store: store, feed: ChangeFeed(), settings: ServerSettings(), config: .defaults,
                                   signer: Fixture.signer, logger: log.logger())
        let link = try await TestLink.make()
        await session.attach(link: link.link, epoch: 1, agentStream: "as", peerSaw: nil, now: t0)
        await session.enqueue(try await Fixture.insert(["c1"], agent: agentId, into: store))
        _ = try await link.drain()

        let hostile = "x\n2026-12-04 INFO forged line\u{1B}[2J\u{1B}]0;owned\u{07}" + String(repeating: "A", count: 10_000_000)
        // A rejection with a hostile reason, a report on a hostile command id, and a hostile close reason.
        await session.handle(Envelope(.result(CommandResult(commandId: "c1", status: .rejected, reason: hostile, finishedAt: 1)), seq: 1),
                             epoch: 1, now: Fixture.at(1))
        await session.handle(Envelope(.commandAck(CommandAck(commandId: hostile, duplicate: false)), seq: 2), epoch: 1, now: Fixture.at(2))
        await session.detach(epoch: 1, closure: LinkClosure(code: 1000, reason: "bye\n\u{1B}[31mred", byPeer: true), now: Fixture.at(3))

        let lines = log.all
        let rejected = try #require(lines.first { $0.contains("agent rejected command c1") })
        let dropped = try #require(lines.first { $0.contains("for command x") })
        let detached = try #require(lines.first { $0.contains("session detached") })
        for line in [rejected, dropped, detached] {
            #expect(line.utf8.count < 1000, "logged short: \(line.utf8.count) bytes")
            #expect(!line.unicodeScalars.contains { $0.properties.generalCategory == .control }, "no raw control character: \(line)")
        }
        #expect(rejected.contains(#"x\n2026-12-04 INFO forged line\u{1b}[2J\u{1b}]0;owned\u{7}AAA"#), "\(rejected)")
        #expect(rejected.contains("…[+"), "says what was cut: \(rejected)")
        #expect(detached.contains(#"bye\n\u{1b}[31mred"#), "\(detached)")
    }
}
