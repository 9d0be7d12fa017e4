import Foundation
import Hummingbird
import Logging
import NIOCore
import NIOEmbedded
import RMMStore
import Synchronization
import Testing

@testable import RMMServer

/// Which `StoreLane` the operator API's work runs on: the operator's for the request and its
/// streamed body, the agents' for the delivery a request hands to sessions.
@Suite("Operator lane")
struct OperatorLaneMiddlewareTests {
    /// The lanes a response body was written on.
    final class Lanes: Sendable {
        let seen = Mutex<[StoreLane]>([])
        func add() { seen.withLock { $0.append(StoreLane.current) } }
    }

    /// A body writer that notes the lane of every write and of the finish.
    struct LaneWriter: ResponseBodyWriter {
        let lanes: Lanes
        mutating func write(_ buffer: ByteBuffer) async throws { lanes.add() }
        consuming func finish(_ trailingHeaders: HTTPFields?) async throws { lanes.add() }
    }

    @Test("a request runs on the operator's lane, and so does its body when written after the middleware returned")
    func requestAndBodyOnOperatorLane() async throws {
        let context = OperatorContext(source: ApplicationRequestContextSource(channel: EmbeddedChannel(), logger: Logger(label: "test.api")))
        let request = Request(head: .init(method: .get, scheme: "http", authority: "localhost", path: "/api/v1/agents"), body: .init(buffer: .init()))
        let handled = Lanes()
        let response = try await OperatorLaneMiddleware().handle(request, context: context) { _, _ in
            handled.add()
            return Response(status: .ok, body: ResponseBody { writer in
                try await writer.write(ByteBuffer(string: "[]"))
                try await writer.finish(nil)
            })
        }
        #expect(handled.seen.withLock { $0 } == [.operator])
        #expect(StoreLane.current == .agents, "the lane ends with the request")
        let written = Lanes()
        try await response.body.write(LaneWriter(lanes: written))
        #expect(written.seen.withLock { $0 } == [.operator, .operator])
    }

    @Test("a run made on the operator's lane hands its delivery (the move to sent) to the agents' lane")
    func deliveryOnAgentsLane() async throws {
        let (base, agents) = try await Fixture.store(agents: ["web-1"])
        let store = FaultyStore(base: base)
        let feed = ChangeFeed()
        // On a node of a cluster: a run stores its commands `queued`, and the session records each `sent`.
        let registry = SessionRegistry(store: store, feed: feed, settings: ServerSettings(), config: .defaults, signer: Fixture.signer,
                                       logger: Fixture.quietLogger, signals: HubSignals(hub: SignalHub(), node: "n1"))
        let service = CommandService(store: base, registry: registry, feed: feed, settings: ServerSettings(), logger: Fixture.quietLogger)
        let session = await registry.session(for: agents[0].id)
        let link = try await TestLink.make()
        await session.attach(link: link.link, epoch: 1, agentStream: "as", peerSaw: nil, now: Date())
        _ = try await link.drain()

        _ = try await StoreLane.$current.withValue(.operator) {
            try await service.run(CommandServiceTests.request(), by: "ops", now: Date())
        }
        #expect(store.sentLanes.withLock { $0 } == [.agents])
    }
}
