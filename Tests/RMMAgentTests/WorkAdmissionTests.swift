import Crypto
import Foundation
import RMMProtocol
import Testing

@testable import RMMAgent

/// The admission decisions the agent and the fleet simulator share, without sockets: real
/// signatures from a server key, frames forged by moving them or by another key.
@Suite("Work admission")
struct WorkAdmissionTests {
    private let serverKey = Curve25519.Signing.PrivateKey()
    private let agentId = "agent-1"
    private let now = 1_750_000_000.0
    private let position = StreamPosition(stream: "s", seq: 7)

    private var verifier: WorkVerifier {
        WorkVerifier(agentId: agentId, serverKey: serverKey.publicKey.rawRepresentation.base64EncodedString())
    }

    private func command(_ id: String = "c1", expiresIn: Double = 60, signedAt: StreamPosition? = nil, key: Curve25519.Signing.PrivateKey? = nil) throws -> CommandSpec {
        var spec = CommandSpec(commandId: id, kind: .shell, text: "true", timeoutSeconds: 10, expiresAt: Int(now + expiresIn))
        let payload = try #require(WorkSigning.payload(agentId: agentId, position: signedAt ?? position, command: spec))
        spec.signature = try WorkSigning.sign(payload, with: key ?? serverKey)
        return spec
    }

    @Test("a genuine command is admitted once; a held one is a duplicate; one seen forged before is refused")
    func genuineCommand() throws {
        let check = WorkCheck.command(try command(), at: position, verifier: verifier, now: now)
        #expect(check == .genuine)
        #expect(CommandAdmission.decide(check, held: false, forgedEarlier: false) == .admit)
        #expect(CommandAdmission.decide(check, held: true, forgedEarlier: false) == .duplicate)
        #expect(CommandAdmission.decide(check, held: false, forgedEarlier: true) == .reject(CommandAdmission.forgedEarlierReason))
    }

    @Test("a frame moved to another seq or signed by another key is forged: remembered and reported, unless the id is held")
    func forgedCommand() throws {
        let moved = WorkCheck.command(try command(signedAt: StreamPosition(stream: "s", seq: 6)), at: position, verifier: verifier, now: now)
        let otherKey = WorkCheck.command(try command(key: Curve25519.Signing.PrivateKey()), at: position, verifier: verifier, now: now)
        for check in [moved, otherKey] {
            let why = try #require(check.forgery)
            #expect(CommandAdmission.decide(check, held: false, forgedEarlier: false) == .forged(why, remember: true, report: true))
            #expect(CommandAdmission.decide(check, held: true, forgedEarlier: false) == .forged(why, remember: false, report: false))
        }
    }

    @Test("no pinned key: refused and reported, never remembered as forged")
    func unverifiable() throws {
        let check = WorkCheck.command(try command(), at: position, verifier: nil, now: now)
        #expect(check == .unverifiable)
        #expect(CommandAdmission.decide(check, held: false, forgedEarlier: false) == .forged("no pinned server key", remember: false, report: true))
    }

    @Test("a genuine command past its deadline is rejected (a held one acked as duplicate), with or without signature checks")
    func expired() throws {
        let spec = try command(expiresIn: -(WorkLimits.clockSkewSeconds + 1))
        for check in [WorkCheck.command(spec, at: position, verifier: verifier, now: now),
                      WorkCheck.command(spec, at: position, verifier: nil, verify: false, now: now)] {
            #expect(CommandAdmission.decide(check, held: false, forgedEarlier: false) == .reject("its signed start deadline has passed"))
            #expect(CommandAdmission.decide(check, held: true, forgedEarlier: false) == .duplicate)
        }
        // Not verifying signatures (a simulator that trusts its server) still checks the deadline only.
        let unsigned = CommandSpec(commandId: "c2", kind: .shell, text: "true", timeoutSeconds: 10, expiresAt: Int(now + 60))
        #expect(WorkCheck.command(unsigned, at: position, verifier: nil, verify: false, now: now) == .genuine)
    }

    @Test("a cancel: before its command it is remembered and reported; a running one stops; a finished one is left")
    func cancels() throws {
        var cancel = Cancel(commandId: "c1", reason: "operator")
        cancel.signature = try WorkSigning.sign(WorkSigning.payload(agentId: agentId, position: position, cancel: cancel), with: serverKey)
        let check = WorkCheck.cancel(cancel, at: position, verifier: verifier)
        #expect(check == .genuine)
        let forgetAfter = now + WorkLimits.maxValiditySeconds + 2 * WorkLimits.clockSkewSeconds
        #expect(CancelAdmission.decide(check, cancel: cancel, standing: .unknown, now: now)
            == .cancelBeforeArrival(reason: "cancelled before it reached the agent: operator", forgetAfter: forgetAfter))
        #expect(CancelAdmission.decide(check, cancel: cancel, standing: .active, now: now) == .stop)
        #expect(CancelAdmission.decide(check, cancel: cancel, standing: .finished, now: now) == .nothing)
        let moved = WorkCheck.cancel(cancel, at: StreamPosition(stream: "s", seq: 8), verifier: verifier)
        #expect(CancelAdmission.decide(moved, cancel: cancel, standing: .active, now: now) == .forged(try #require(moved.forgery)))
        #expect(CancelAdmission.decide(.unverifiable, cancel: cancel, standing: .active, now: now) == .forged("no pinned server key"))
    }

    @Test("a config: applied when signed and not older; an older genuine one is stale; an unsigned one is forged")
    func configs() throws {
        var config = AgentConfig.defaults
        config.version = 5
        let signature = try WorkSigning.sign(WorkSigning.payload(agentId: agentId, position: position, config: config), with: serverKey)
        #expect(ConfigAdmission.decide(.config(config, signature: signature, at: position, appliedVersion: 5, verifier: verifier)) == .apply)
        guard case .stale = ConfigAdmission.decide(.config(config, signature: signature, at: position, appliedVersion: 6, verifier: verifier)) else {
            Issue.record("an older config must be stale")
            return
        }
        guard case .forged = ConfigAdmission.decide(.config(config, signature: nil, at: position, appliedVersion: nil, verifier: verifier)) else {
            Issue.record("an unsigned config must be forged")
            return
        }
        // Not verifying: only the version counts.
        #expect(ConfigAdmission.decide(.config(config, signature: nil, at: position, appliedVersion: nil, verifier: nil, verify: false)) == .apply)
    }

    @Test("a config sets the executor's limits; a simulator overrides concurrency and queue")
    func executorLimits() {
        var config = AgentConfig.defaults
        config.maxConcurrentCommands = 3
        config.maxQueuedCommands = 9
        config.commandEnvironment = ["A": "1"]
        let agent = ExecutorLimits(config: config)
        #expect(agent.maxConcurrent == 3 && agent.maxQueued == 9 && agent.environment == ["A": "1"])
        #expect(agent.outputCapBytes == config.outputCapBytes && agent.outputChunkBytes == config.outputChunkBytes)
        let sim = ExecutorLimits(config: config, maxConcurrent: 8, maxQueued: 1_000)
        #expect(sim.maxConcurrent == 8 && sim.maxQueued == 1_000 && sim.environment == ["A": "1"])
    }
}
