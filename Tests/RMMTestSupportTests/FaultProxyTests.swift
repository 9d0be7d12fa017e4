import NIOCore
import NIOPosix
import RMMTestSupport
import Testing

/// How long a test watches for something that must NOT happen (bytes arriving, a socket
/// closing). "Nothing happens" has no event to wait for, so it can only be a bounded observation
/// window: loopback delivery takes microseconds, so 300 ms is thousands of times longer than
/// the proxy would need to misbehave, yet keeps the suite fast.
private let quietWindow: Duration = .milliseconds(300)

/// Runs `body` against a fresh echo server behind a fresh proxy, and always tears both down.
private func withProxy(
    _ body: (FaultProxy, EchoServer, any EventLoopGroup) async throws -> Void
) async throws {
    let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
    let echo = try await EchoServer.start(group: group)
    let proxy = try await FaultProxy.start(upstreamHost: "127.0.0.1", upstreamPort: echo.port)
    let outcome: Result<Void, any Error>
    do {
        try await body(proxy, echo, group)
        outcome = .success(())
    } catch {
        outcome = .failure(error)
    }
    try await proxy.stop()
    await echo.stop()
    try await group.shutdownGracefully()
    try outcome.get()
}

/// Connects through the proxy and checks one echo round trip.
private func connectAndEcho(_ proxy: FaultProxy, group: any EventLoopGroup) async throws -> TestClient {
    let client = try await TestClient.connect(port: proxy.port, group: group)
    try await client.send("hello")
    try await waitUntil("echo of hello through the proxy", timeout: .seconds(10)) {
        client.observations.receivedText == "hello"
    }
    return client
}

@Suite("FaultProxy")
struct FaultProxyTests {
    @Test("pass mode forwards bytes both ways")
    func passRoundTrip() async throws {
        try await withProxy { proxy, echo, group in
            #expect(proxy.port > 0)
            let client = try await connectAndEcho(proxy, group: group)
            #expect(proxy.mode == .pass)
            #expect(proxy.connectionCount == 1)
            #expect(proxy.acceptedCount == 1)
            #expect(echo.acceptedCount == 1)
            await client.close()
            try await waitUntil("proxy to forget the closed connection", timeout: .seconds(10)) {
                proxy.connectionCount == 0
            }
        }
    }

    @Test("halfOpen stops forwarding without closing the client socket")
    func halfOpenBlackholes() async throws {
        try await withProxy { proxy, _, group in
            let client = try await connectAndEcho(proxy, group: group)
            proxy.setMode(.halfOpen)
            try await client.send("lost")
            try await Task.sleep(for: quietWindow)  // observation window, see quietWindow
            #expect(client.observations.receivedText == "hello")
            #expect(!client.observations.closed)
            #expect(client.channel.isActive)
            #expect(proxy.connectionCount == 1)
            await client.close()
        }
    }

    @Test("halfOpen does not pass the server's close to the client; pass then does")
    func halfOpenSwallowsServerClose() async throws {
        try await withProxy { proxy, echo, group in
            let client = try await connectAndEcho(proxy, group: group)
            proxy.setMode(.halfOpen)
            await echo.closeAcceptedConnections()
            try await Task.sleep(for: quietWindow)  // observation window, see quietWindow
            #expect(!client.observations.closed)
            #expect(proxy.connectionCount == 1)
            proxy.setMode(.pass)
            try await waitUntil("client to see the server's close once the path is restored", timeout: .seconds(10)) {
                client.observations.closed
            }
        }
    }

    @Test("halfOpen stops reading, so the sender's TCP backs up")
    func halfOpenBacksUpSender() async throws {
        try await withProxy { proxy, _, group in
            let client = try await connectAndEcho(proxy, group: group)
            proxy.setMode(.halfOpen)
            // More than loopback socket buffers hold (a few MiB each way): if the proxy kept
            // reading and discarding, the client would stay writable.
            let chunk = client.channel.allocator.buffer(repeating: 0x61, count: 1 << 20)
            for _ in 0..<32 {
                client.channel.writeAndFlush(chunk, promise: nil)
            }
            try await waitUntil("client channel to become unwritable", timeout: .seconds(10)) {
                !client.channel.isWritable
            }
            #expect(!client.observations.closed)
            await client.close()
        }
    }

    @Test("switching back to pass resumes forwarding on the same connection")
    func passAfterHalfOpenResumes() async throws {
        try await withProxy { proxy, _, group in
            let client = try await connectAndEcho(proxy, group: group)
            proxy.setMode(.halfOpen)
            try await client.send("lost")
            proxy.setMode(.pass)
            try await client.send("again")
            // "lost" may have been discarded while the path was dead, or still sit unread in the
            // socket and pass now: either way forwarding resumes, in order, on the same connection.
            try await waitUntil("echo of again after restoring pass", timeout: .seconds(10)) {
                client.observations.receivedText.hasSuffix("again")
            }
            #expect(["helloagain", "hellolostagain"].contains(client.observations.receivedText))
            await client.close()
        }
    }

    @Test("connections opened during halfOpen are blackholed too")
    func halfOpenAppliesToNewConnections() async throws {
        try await withProxy { proxy, _, group in
            proxy.setMode(.halfOpen)
            let client = try await TestClient.connect(port: proxy.port, group: group)
            try await waitUntil("proxy to accept the connection", timeout: .seconds(10)) {
                proxy.acceptedCount == 1
            }
            try await client.send("hello")
            try await Task.sleep(for: quietWindow)  // observation window, see quietWindow
            #expect(client.observations.receivedText == "")
            #expect(!client.observations.closed)
            await client.close()
        }
    }

    @Test("closeAll closes clients but keeps listening")
    func closeAllKeepsListening() async throws {
        try await withProxy { proxy, _, group in
            let first = try await connectAndEcho(proxy, group: group)
            await proxy.closeAll()
            #expect(proxy.connectionCount == 0)
            try await waitUntil("client to see the proxy close it", timeout: .seconds(10)) {
                first.observations.closed
            }
            let second = try await connectAndEcho(proxy, group: group)
            #expect(proxy.acceptedCount == 2)
            await second.close()
        }
    }

    @Test("a refused upstream closes the client")
    func refusedUpstreamClosesClient() async throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        // Borrow a port that was just free: bind an echo server, note its port, stop it.
        let echo = try await EchoServer.start(group: group)
        let deadPort = echo.port
        await echo.stop()
        let proxy = try await FaultProxy.start(upstreamHost: "127.0.0.1", upstreamPort: deadPort)
        let client = try await TestClient.connect(port: proxy.port, group: group)
        try await waitUntil("client to be closed when the upstream refuses", timeout: .seconds(10)) {
            client.observations.closed
        }
        #expect(proxy.connectionCount == 0)
        // The failed connection must not take the listener down with it.
        let second = try await TestClient.connect(port: proxy.port, group: group)
        try await waitUntil("proxy to accept a second connection", timeout: .seconds(10)) {
            proxy.acceptedCount == 2 && second.observations.closed
        }
        try await proxy.stop()
        try await group.shutdownGracefully()
    }
}
