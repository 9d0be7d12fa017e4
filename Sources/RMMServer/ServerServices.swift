import Foundation
import Logging
import RMMAPI
import RMMProtocol
import ServiceLifecycle

/// The agent gateway as a `Service`: it listens until graceful shutdown (or cancellation), then stops
/// accepting, closes every agent session with `serverShutdown` (`SessionDrain`: a node with other
/// live nodes hands its agents to them and waits until they moved; alone, agents reconnect
/// later), answers pending downlink polls, and returns once the connections it served have ended.
struct AgentGatewayService: Service, CustomStringConvertible {
    var description: String { "agent gateway" }
    let gateway: AgentGateway
    let registry: SessionRegistry
    let drain: SessionDrain

    func run() async throws {
        try await withThrowingTaskGroup(of: Bool.self) { group in
            group.addTask {
                try await gateway.run()
                return false
            }
            // True once shutdown starts; cancellation ends the wait the same way.
            group.addTask {
                try? await gracefulShutdown()
                return true
            }
            guard try await group.next() == true else {
                group.cancelAll()
                return
            }
            gateway.stopAccepting()
            // From here a handshake that attaches is closed with 4008 too (`AgentHandshake`).
            await drain.run(sessions: await registry.beginShutdown(), registry: registry)
            // A connection that attached while the drain ran (its handshake began before the
            // listener closed) is closed too.
            for session in await registry.allSessions where session.liveEpoch.value != nil {
                await session.close(.serverShutdown, reason: await registry.shutdownCloseReason())
            }
            gateway.endDownlinkPolls()
            try await group.waitForAll()
        }
    }
}

/// Ends the API's long-polls when graceful shutdown begins (`ChangeFeed.stop`): each answers with
/// what it has. Listed last, it is the first service the group stops, before the API waits for
/// its in-flight requests.
struct LongPollStopService: Service, CustomStringConvertible {
    var description: String { "long-poll stop" }
    let feed: ChangeFeed

    func run() async {
        try? await gracefulShutdown()
        feed.stop()
    }
}

/// The session ticker as a `Service`: ticks until graceful shutdown.
struct SessionTickerService: Service, CustomStringConvertible {
    var description: String { "session ticker" }
    let ticker: SessionTicker

    func run() async {
        await cancelWhenGracefulShutdown { await ticker.run() }
    }
}

/// The heap trimmer as a `Service`: checks until graceful shutdown.
struct HeapTrimmerService: Service, CustomStringConvertible {
    var description: String { "heap trimmer" }
    let trimmer: HeapTrimmer

    func run() async {
        await cancelWhenGracefulShutdown { await trimmer.run() }
    }
}

/// Reports readiness once both listeners are bound (`DATA_DIR/server.json` and `onReady`), then
/// stays until shutdown: a service that returns early would end the group.
struct ReadinessService: Service, CustomStringConvertible {
    var description: String { "readiness report" }
    let agentPorts: AsyncStream<Int>
    let apiPorts: AsyncStream<Int>
    let makeReady: @Sendable (_ agentPort: Int, _ apiPort: Int) async throws -> ServerReady
    let onReady: @Sendable (ServerReady) -> Void

    func run() async throws {
        var agentIterator = agentPorts.makeAsyncIterator()
        var apiIterator = apiPorts.makeAsyncIterator()
        if let agentPort = await agentIterator.next(), let apiPort = await apiIterator.next(), !Task.isCancelled {
            onReady(try await makeReady(agentPort, apiPort))
        }
        try? await gracefulShutdown()
    }
}
