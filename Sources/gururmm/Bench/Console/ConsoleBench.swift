import Foundation
import NIOCore
import NIOHTTP1
import RMMTransport
import Synchronization

/// `gururmm bench --console`: the web console against a fresh SQLite server holding `agents` idle
/// simulated agents. Times the fleet page (`GET /`, `pageLoads` times, one session: first body byte
/// and whole body), then watches the idle server's CPU and memory for `windowSeconds` with no
/// console open and again with `consoles` open, each its own login session holding one
/// `GET /events/fleet?ids=…` stream of the first page's ids, read as it arrives. With `chromium`,
/// the fleet page is also loaded in headless Chromium before the idle windows (and the browser
/// ended before them).
struct ConsoleBench {
    let directory: String
    let agents: Int
    let perSimulator: Int
    /// The browser and its driver, or nil with `chromiumSkipped` saying why.
    var chromium: BenchWebDriver.Tools?
    var chromiumSkipped = ""
    var consoles = 10
    var pageLoads = 20
    var windowSeconds: Double = 30

    /// Bytes the open streams received, and how many streams have answered.
    final class StreamTally: Sendable {
        let bytes = Atomic<Int>(0)
        let answered = Atomic<Int>(0)
        let refused = Atomic<Int>(0)
    }

    func execute() async throws -> String {
        // The server holds one descriptor per agent; its children inherit the raised limit.
        let files = BenchRun.raiseOpenFileLimit()
        guard files >= agents + 300 else {
            throw BenchError("the open-file limit (\(files)) is too low for \(agents) agents; raise it with ulimit -n")
        }
        let server = try await BenchServer(directory: directory)
        var simulators: [BenchChild] = []
        do {
            let report = try await measure(server, simulators: &simulators)
            for simulator in simulators { await simulator.stop() }
            await server.child.stop()
            return report
        } catch {
            for simulator in simulators { await simulator.stop() }
            await server.child.stop()
            throw BenchError("\(error)\n(server and simulator logs in \(directory))")
        }
    }

    private func measure(_ server: BenchServer, simulators: inout [BenchChild]) async throws -> String {
        let port = server.ready.apiPort
        let baseline = server.stats()?.residentBytes ?? 0
        let enrollment = try await server.api.createEnrollmentToken(expiresSeconds: 86_400, uses: agents + 10)
        guard let token = enrollment.token else { throw BenchError("the server returned no enrollment token") }
        note("enrolling \(agents) agents")
        let clock = ContinuousClock()
        let started = clock.now
        try BenchRun.addSimulators(from: 0, to: agents, perSimulator: perSimulator, server: server, token: token, directory: directory,
                                   into: &simulators)
        try await benchWait("\(agents) agents online", timeout: max(120, Double(agents) / 50), every: 0.5) {
            try await server.fleet().online >= agents
        }
        let onlineSeconds = (clock.now - started).seconds
        // Enrolment's writes and the first reports settle before anything is timed.
        try await Task.sleep(for: .seconds(5))

        let session = try await Self.login(port: port, token: server.api.token)
        note("fleet page: \(pageLoads) loads")
        var firstBytes: [Double] = [], wholes: [Double] = [], page = ""
        for _ in 0..<pageLoads {
            let load = try await Self.loadPage(port: port, cookie: session)
            firstBytes.append(load.firstByte)
            wholes.append(load.whole)
            page = load.body
        }
        let ids = ConsolePageScan.agentIds(page)
        guard !ids.isEmpty else { throw BenchError("the fleet page shows no agent rows:\n\(page.prefix(2000))") }
        var figures = ConsoleBenchFigures(agents: agents, onlineSeconds: onlineSeconds, pageLoads: pageLoads, firstByte: Percentiles(firstBytes),
                                          fullBody: Percentiles(wholes), bodyBytes: page.utf8.count, rows: ConsolePageScan.rowCount(page),
                                          windowSeconds: windowSeconds)
        figures.baselineBytes = baseline
        figures.chromiumSkipped = chromiumSkipped
        if let chromium {
            note("fleet page in Chromium: \(pageLoads) loads")
            figures.chromium = try await ChromiumFleetLoads.measure(tools: chromium, directory: directory + "/chromium", base: "http://127.0.0.1:\(port)",
                                                                    cookie: session, count: pageLoads, note: note)
        }

        note("idle, no console, \(Int(windowSeconds)) s")
        figures.idle.append(try await window(server, consoles: 0, tally: StreamTally()))

        note("opening \(consoles) consoles")
        let tally = StreamTally()
        var sessions: [String] = []
        for _ in 0..<consoles { sessions.append(try await Self.login(port: port, token: server.api.token)) }
        let path = "/events/fleet?ids=" + ids.joined(separator: ",")
        let streams = sessions.map { cookie in
            Task {
                var answered = false
                let reply = try? await StreamedHTTP.chunks(.GET, host: "127.0.0.1", port: port, path: path, tls: nil,
                                                           headers: [("Cookie", "\(ConsolePageScan.sessionCookie)=\(cookie)"), ("Accept", "text/event-stream")],
                                                           idleTimeout: .seconds(120)) { chunk in
                    if !answered {
                        answered = true
                        tally.answered.add(1, ordering: .relaxed)
                    }
                    tally.bytes.add(chunk.readableBytes, ordering: .relaxed)
                }
                if let reply, !(200..<300).contains(reply.status) { tally.refused.add(1, ordering: .relaxed) }
            }
        }
        try await benchWait("\(consoles) console streams to answer", timeout: 30, every: 0.2) {
            if tally.refused.load(ordering: .relaxed) > 0 { throw BenchError("the server refused a console stream") }
            return tally.answered.load(ordering: .relaxed) >= consoles
        }
        // Every stream's first read of the page has happened before the window starts.
        try await Task.sleep(for: .seconds(3))
        note("idle, \(consoles) consoles, \(Int(windowSeconds)) s")
        figures.idle.append(try await window(server, consoles: consoles, tally: tally))
        for stream in streams { stream.cancel() }
        return figures.render()
    }

    /// The server's CPU over `windowSeconds` and its RSS at the end, with the streams' bytes meanwhile.
    private func window(_ server: BenchServer, consoles: Int, tally: StreamTally) async throws -> ConsoleBenchFigures.Idle {
        guard let before = server.stats() else { throw BenchError("cannot read the server's CPU time") }
        let bytesBefore = tally.bytes.load(ordering: .relaxed)
        try await Task.sleep(for: .milliseconds(Int(windowSeconds * 1000)))
        guard let after = server.stats() else { throw BenchError("cannot read the server's CPU time") }
        return .init(consoles: consoles, cpuPercent: (after.cpuSeconds - before.cpuSeconds) / windowSeconds * 100,
                     residentBytes: after.residentBytes, streamBytes: tally.bytes.load(ordering: .relaxed) - bytesBefore)
    }

    /// Logs in with `token` as a browser does; the new session's cookie value.
    static func login(port: Int, token: String) async throws -> String {
        let form = "token=" + (token.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? token)
        let reply = try await OneShotHTTP.request(.POST, host: "127.0.0.1", port: port, path: "/login", tls: nil,
                                                  headers: [("Content-Type", "application/x-www-form-urlencoded")], body: Data(form.utf8))
        guard (300..<400).contains(reply.status),
              let cookie = reply.headers["Set-Cookie"].lazy.compactMap({ ConsolePageScan.cookie(named: ConsolePageScan.sessionCookie, in: $0) }).first else {
            throw BenchError("console login answered \(reply.status) without a session cookie: \(String(decoding: reply.body.prefix(500), as: UTF8.self))")
        }
        return cookie
    }

    /// One `GET /` with the session: seconds to the first body byte and to the whole body, and the body.
    static func loadPage(port: Int, cookie: String) async throws -> (firstByte: Double, whole: Double, body: String) {
        let clock = ContinuousClock()
        let started = clock.now
        var first: Double?
        var body = ByteBuffer()
        let reply = try await StreamedHTTP.chunks(.GET, host: "127.0.0.1", port: port, path: "/", tls: nil,
                                                  headers: [("Cookie", "\(ConsolePageScan.sessionCookie)=\(cookie)")], idleTimeout: .seconds(60)) { chunk in
            if first == nil { first = (clock.now - started).seconds }
            var chunk = chunk
            body.writeBuffer(&chunk)
        }
        let whole = (clock.now - started).seconds
        guard reply.status == 200 else { throw BenchError("GET / answered \(reply.status): \(String(decoding: reply.body.prefix(500), as: UTF8.self))") }
        return (first ?? whole, whole, String(decoding: body.readableBytesView, as: UTF8.self))
    }

    private func note(_ text: String) {
        FileHandle.standardError.write(Data("bench: \(text)\n".utf8))
    }
}
