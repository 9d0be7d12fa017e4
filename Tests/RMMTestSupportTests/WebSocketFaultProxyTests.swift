import NIOCore
import NIOPosix
import NIOWebSocket
import RMMTestSupport
import Testing

/// How long a test watches for something that must NOT happen, where no barrier can help (a
/// clogged direction cannot carry a ping). Loopback moves megabytes in milliseconds, so 300 ms is
/// far longer than a proxy that kept reading would need to deliver a frame.
private let quietWindow: Duration = .milliseconds(300)

/// A WebSocket client connected through a fault proxy to a WebSocket server, and the server's end
/// of that connection.
private struct ProxiedWebSocket {
    let proxy: FaultProxy
    let client: WebSocketPeer
    let server: WebSocketPeer
}

/// Starts a server, a proxy in `mode` and a client connected through it; always tears down.
private func withProxiedWebSocket(
    mode: FaultMode = .pass,
    _ body: (ProxiedWebSocket) async throws -> Void
) async throws {
    let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
    let server = try await WebSocketTestServer.start(group: group)
    let proxy = try await FaultProxy.start(upstreamHost: "127.0.0.1", upstreamPort: server.port)
    let outcome: Result<Void, any Error>
    do {
        proxy.setMode(mode)
        let client = try await WebSocketPeer.connect(port: proxy.port, group: group)
        try await waitUntil("server to see the upgraded connection", timeout: .seconds(10)) {
            server.connections.count == 1
        }
        guard let serverEnd = server.connections.first else { throw TestFailure("no server connection") }
        try await body(ProxiedWebSocket(proxy: proxy, client: client, server: serverEnd))
        outcome = .success(())
    } catch {
        outcome = .failure(error)
    }
    try await proxy.stop()
    await server.stop()
    try await group.shutdownGracefully()
    try outcome.get()
}

private func bytes(_ count: Int) -> [UInt8] {
    (0..<count).map { UInt8(truncatingIfNeeded: $0) }
}

@Suite("FaultProxy WebSocket modes")
struct WebSocketFaultProxyTests {
    @Test("dropDownlinkData: pongs come back and uplink flows, but server data frames never arrive")
    func dropDownlinkData() async throws {
        try await withProxiedWebSocket { link in
            link.server.send(text: "before")
            try await waitUntil("first downlink frame in pass mode", timeout: .seconds(10)) {
                link.client.log.contains(.text, "before")
            }
            link.proxy.setMode(.dropDownlinkData)
            // Control frames keep flowing both ways: the client's ping gets its pong.
            try await link.client.barrier("client-ping")
            link.client.send(text: "agent report")
            link.server.send(text: #"{"t":"command"}"#)
            link.server.send(.binary, [1, 2, 3])
            try await link.server.barrier("server-ping")
            try await link.client.barrier("client-ping-2")
            #expect(link.server.log.contains(.text, "agent report"))
            #expect(link.client.log.dataFrames.map(\.text) == ["before"])
            #expect(link.proxy.frameCounts.droppedDownlink == 2)
            #expect(link.proxy.frameCounts.droppedUplink == 0)
            // Restoring the path shows the proxy kept its place in the stream.
            link.proxy.setMode(.pass)
            link.server.send(text: "after")
            try await waitUntil("downlink frame after restoring pass", timeout: .seconds(10)) {
                link.client.log.contains(.text, "after")
            }
        }
    }

    @Test("dropDownlinkText: binary frames get through, text frames do not")
    func dropDownlinkText() async throws {
        try await withProxiedWebSocket(mode: .dropDownlinkText) { link in
            link.server.send(text: #"{"t":"command"}"#)
            link.server.send(.binary, Array(#"{"t":"command"}"#.utf8))
            try await link.server.barrier("server-ping")
            #expect(link.client.log.dataFrames.map(\.opcode) == [.binary])
            #expect(link.proxy.droppedFrames == 1)
        }
    }

    @Test("dropFramesLargerThan(1000): 500-byte frames pass both ways, 2000-byte frames are dropped")
    func dropLargeFrames() async throws {
        try await withProxiedWebSocket(mode: .dropFramesLargerThan(1000)) { link in
            link.client.send(.text, bytes(500))
            link.client.send(.binary, bytes(2000))
            link.client.send(.binary, bytes(500))
            link.server.send(.binary, bytes(2000))
            link.server.send(.text, bytes(500))
            try await link.client.barrier("client-ping")
            try await link.server.barrier("server-ping")
            #expect(link.server.log.dataFrames.map(\.payload.count) == [500, 500])
            #expect(link.client.log.dataFrames.map(\.payload.count) == [500])
            #expect(link.proxy.frameCounts.droppedUplink == 1)
            #expect(link.proxy.frameCounts.droppedDownlink == 1)
        }
    }

    @Test("corruptDownlinkDataFrame(after: 1) garbles exactly the second downlink data frame")
    func corruptSecondFrame() async throws {
        try await withProxiedWebSocket(mode: .corruptDownlinkDataFrame(after: 1)) { link in
            let messages = [#"{"n":0}"#, #"{"n":1}"#, #"{"n":2}"#]
            link.server.send(text: messages[0])
            link.server.send(.ping, Array("between".utf8))  // control frames are not counted
            link.server.send(text: messages[1])
            link.server.send(text: messages[2])
            try await waitUntil("three downlink data frames", timeout: .seconds(10)) {
                link.client.log.dataFrames.count == 3
            }
            let garbled = String(repeating: "#", count: messages[1].utf8.count)
            #expect(link.client.log.dataFrames.map(\.text) == [messages[0], garbled, messages[2]])
            #expect(link.proxy.corruptedFrames == 1)
            link.client.send(text: messages[1])
            try await waitUntil("uplink frame unchanged", timeout: .seconds(10)) {
                link.server.log.contains(.text, messages[1])
            }
        }
    }

    @Test("stopReading(.downlink): the server's channel becomes unwritable while uplink still flows")
    func stopReadingDownlinkClogsServer() async throws {
        try await withProxiedWebSocket { link in
            link.proxy.setMode(.stopReading(.downlink))
            // 32 MiB is far more than loopback socket buffers hold, so the server's own channel
            // must back up if the proxy really stopped reading.
            let chunk = bytes(1 << 20)
            let frames = 32
            for _ in 0..<frames {
                link.server.send(.binary, chunk)
            }
            try await waitUntil("server channel to become unwritable", timeout: .seconds(20)) {
                !link.server.channel.isWritable
            }
            // A channel is briefly unwritable after any burst, so also check that it stays clogged
            // and nothing whole got through: a bounded observation window (see quietWindow).
            try await Task.sleep(for: quietWindow)
            #expect(!link.server.channel.isWritable)
            #expect(link.client.log.dataFrames.count == 0)
            #expect(link.proxy.forwardedFrames(direction: .downlink) == 0)
            link.client.send(text: "uplink still works")
            try await waitUntil("uplink frame at the server", timeout: .seconds(10)) {
                link.server.log.contains(.text, "uplink still works")
            }
            #expect(link.client.channel.isActive)
            // Reading again delivers every frame whole: nothing was lost, only held back.
            link.proxy.setMode(.pass)
            try await waitUntil("all frames delivered after reading resumes", timeout: .seconds(30)) {
                link.client.log.dataFrames.count == frames
            }
            #expect(link.client.log.dataFrames.allSatisfy { $0.payload == chunk })
            #expect(link.proxy.forwardedFrames(direction: .downlink) == frames)
        }
    }
}
