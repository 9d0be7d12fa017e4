import Crypto
import Foundation
import Logging
import NIOCore
import NIOEmbedded
import NIOWebSocket
import RMMProtocol
import RMMTestSupport
import RMMTransport
import Synchronization
import Testing

@testable import RMMAgent

/// The agent's link reporter beside its session, on a test channel: what a config change does to
/// the reports' rhythm.
@Suite("Link reporter")
struct LinkReporterTests {
    private let serverKey = Curve25519.Signing.PrivateKey()
    private let agentId = "agent-1"
    private let serverStream = "server-stream"

    private func signed(_ config: AgentConfig, at position: StreamPosition) throws -> String {
        try WorkSigning.sign(try WorkSigning.payload(agentId: agentId, position: position, config: config), with: serverKey)
    }

    /// The link reports written on `channel` so far (its loop is run first), added to `count`.
    private static func countReports(on channel: NIOAsyncTestingChannel, into count: Tally) async throws {
        await channel.testingEventLoop.run()
        let codec = WireCodec()
        while let frame = try await channel.readOutbound(as: WebSocketFrame.self) {
            guard frame.opcode == .text else { continue }
            // The mask key is applied by the encoder, which this channel does not have: the data is plain.
            var payload = frame.data
            let data = Data(payload.readBytes(length: payload.readableBytes) ?? [])
            if case .linkReport = try codec.decode(data).message { count.add() }
        }
    }

    @Test("a config that shortens the heartbeat interval wakes the reporter, and its next routine report comes on the new rhythm")
    func configReplans() async throws {
        let channel = NIOAsyncTestingChannel()
        try await channel.connect(to: SocketAddress(ipAddress: "192.0.2.1", port: 443))
        let link = try await channel.testingEventLoop.executeInContext { try WebSocketLink.install(on: channel, isClient: true) }
        let directory = temporaryTestDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let logger = Logger(label: "link-reporter-tests") { _ in SwiftLogNoOpLogHandler() }
        let core = AgentCore(journal: try CommandJournal(directory: directory), executor: CommandExecutor(limits: ExecutorLimits()),
                             appliedConfigVersion: AppliedConfigVersion(inMemory: nil), logger: logger)
        await core.trust(WorkVerifier(agentId: agentId, serverKey: serverKey.publicKey.rawRepresentation.base64EncodedString()))
        let welcomeConfig = AgentConfig.defaults
        let welcome = Welcome(agentId: agentId, epoch: 1, stream: serverStream, received: nil, heartbeatId: 1, config: welcomeConfig,
                              configSignature: try signed(welcomeConfig, at: WorkVerifier.welcomePosition(stream: serverStream)),
                              serverKey: nil, name: nil)
        await core.attach(link, welcome: welcome, now: Date())
        #expect(await core.heartbeatInterval == 15)

        let wake = DeadlineWait()
        let configsSeen = Tally()
        await core.observeConfigs {
            configsSeen.add()
            wake.wake()
        }
        let reporter = LinkReporter(link: link, policy: LinkPolicy(), heartbeatInterval: { await core.heartbeatInterval },
                                    watchdogSeconds: 600, wake: wake)
        let task = Task { await reporter.run() }
        defer { task.cancel() }
        let reports = Tally()
        try await waitUntil("the first report, at once", timeout: .seconds(10)) {
            try await Self.countReports(on: channel, into: reports)
            return reports.value >= 1
        }

        // At 15 s the next routine report is 96 s or more away; at 1 s it is 8 s at most.
        var faster = AgentConfig.defaults
        faster.version = 2
        faster.heartbeatInterval = 1
        faster.heartbeatDeadline = 3
        let position = StreamPosition(stream: serverStream, seq: 1)
        await core.handle(Envelope(.configUpdate(ConfigUpdate(config: faster, signature: try signed(faster, at: position))), seq: 1), from: link)
        #expect(await core.heartbeatInterval == 1)
        #expect(configsSeen.value == 1, "the applied config told its observer")
        try await waitUntil("a routine report on the new rhythm", timeout: .seconds(30)) {
            try await Self.countReports(on: channel, into: reports)
            return reports.value >= 2
        }
        task.cancel()
        await task.value
    }
}

/// A count shared with the closures that add to it.
private final class Tally: Sendable {
    private let count = Mutex(0)
    func add() { count.withLock { $0 += 1 } }
    var value: Int { count.withLock { $0 } }
}
