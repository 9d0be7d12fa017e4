import Foundation
import RMMTestSupport
import Testing

/// NetLab against the real kernel: the MTU blackhole of docs/diagnosis.md (H1) must let small packets
/// through, stall full-size TCP segments without any ICMP, and let a clamped MSS through.
/// Needs root, `ip`, `tc` and python3; otherwise every test is skipped with the reason.
@Suite("NetLab MTU blackhole")
struct NetLabTests {
    @Test("a 200-byte request/response crosses the blackhole")
    func smallExchangePasses() async throws {
        guard try await netLabAvailable() else { return }
        try await withLab("nl-small", blackholeAbove: 1280) { lab in
            let outcome = try await transfer(in: lab, replyBytes: 200, clientMSS: nil, within: .seconds(30))
            #expect(outcome == .finished(code: 0, output: "received 200"))
            #expect(try lab.blackholedPackets() == 0)
        }
    }

    @Test("64 KiB from server to agent stalls in the blackhole")
    func fullSizeSegmentsStall() async throws {
        guard try await netLabAvailable() else { return }
        try await withLab("nl-stall", blackholeAbove: 1280) { lab in
            // A bounded observation, not a proof of "never": every segment of the reply is
            // 1500 bytes on the wire and is dropped without ICMP, so TCP (no MTU probing) can
            // only retransmit with exponential backoff. 4 s covers the first retransmissions;
            // any data at all getting through in that window would mean the blackhole leaks.
            let outcome = try await transfer(in: lab, replyBytes: 65_536, clientMSS: nil, within: .seconds(4))
            #expect(outcome == .stalled)
            #expect(try lab.blackholedPackets() > 0)
        }
    }

    @Test("64 KiB passes when the agent clamps its MSS to 1200 before connecting")
    func clampedMSSPasses() async throws {
        guard try await netLabAvailable() else { return }
        try await withLab("nl-mss", blackholeAbove: 1280) { lab in
            // MSS 1200 (minus 12 bytes of timestamps) gives 1240-byte IP packets: under 1280.
            let outcome = try await transfer(in: lab, replyBytes: 65_536, clientMSS: 1200, within: .seconds(30))
            #expect(outcome == .finished(code: 0, output: "received 65536"))
            #expect(try lab.blackholedPackets() == 0)
        }
    }

    @Test("without a blackhole, 64 KiB passes at full segment size")
    func noBlackholePasses() async throws {
        guard try await netLabAvailable() else { return }
        try await withLab("nl-open", blackholeAbove: nil) { lab in
            let outcome = try await transfer(in: lab, replyBytes: 65_536, clientMSS: nil, within: .seconds(30))
            #expect(outcome == .finished(code: 0, output: "received 65536"))
        }
    }

    @Test("destroy removes both namespaces and is idempotent")
    func destroyRemovesNamespaces() async throws {
        guard try await netLabAvailable() else { return }
        let lab = try await NetLab.create(name: "nl-destroy", blackholeAbove: 1280)
        await lab.destroy()
        await lab.destroy()
        let (ip, arguments) = lab.command(inServer: true, "true", [])
        let probe = try ManagedProcess.start(ip, arguments: arguments)
        // `ip netns exec` on a deleted namespace fails instead of running `true`.
        #expect(try await probe.waitForExit(timeout: .seconds(10)) != 0)
    }
}

/// What the agent-side client saw.
private enum NetLabOutcome: Equatable {
    /// The client exited (0 only if it received exactly the expected reply); `output` is its log.
    case finished(code: Int32, output: String)
    /// The client was still waiting for the reply when the observation window ended.
    case stalled
}

/// Listens, prints "listening", reads the 200-byte request, replies with argv[4] bytes.
private let serverScript = """
import socket, sys
host, port, want, reply = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((host, port))
s.listen(1)
print('listening', flush=True)
c, _ = s.accept()
got = 0
while got < want:
    d = c.recv(65536)
    if not d:
        break
    got += len(d)
c.sendall(b'x' * reply)
c.close()
"""

/// Optionally clamps TCP_MAXSEG before connecting, sends 200 bytes, reads to EOF, prints the count.
private let clientScript = """
import socket, sys
host, port, send, want, mss = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
s = socket.socket()
if mss:
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_MAXSEG, mss)
s.connect((host, port))
s.sendall(b'r' * send)
got = 0
while True:
    d = s.recv(65536)
    if not d:
        break
    got += len(d)
print('received', got, flush=True)
sys.exit(0 if got == want else 1)
"""

/// Runs one server-to-agent transfer: a 200-byte request, then `replyBytes` back. Waits at most
/// `limit` for the client, then stops both processes whatever happened.
private func transfer(
    in lab: NetLab,
    replyBytes: Int,
    clientMSS: Int?,
    within limit: Duration
) async throws -> NetLabOutcome {
    let port = "7100"
    let request = "200"
    let (serverExecutable, serverArguments) = lab.command(
        inServer: true, "python3", ["-c", serverScript, lab.serverAddress, port, request, "\(replyBytes)"]
    )
    let server = try ManagedProcess.start(serverExecutable, arguments: serverArguments)
    do {
        try await waitUntil("the python server in \(lab.serverNamespace) to listen", timeout: .seconds(30)) {
            server.logContents().contains("listening") || !server.isRunning
        }
        try #require(server.isRunning, "server exited early: \(server.logContents())")
        let (clientExecutable, clientArguments) = lab.command(
            inServer: false, "python3",
            ["-c", clientScript, lab.serverAddress, port, request, "\(replyBytes)", "\(clientMSS ?? 0)"]
        )
        let client = try ManagedProcess.start(clientExecutable, arguments: clientArguments)
        let outcome: NetLabOutcome
        do {
            let code = try await client.waitForExit(timeout: limit)
            outcome = .finished(code: code, output: client.logContents().trimmingCharacters(in: .whitespacesAndNewlines))
        } catch ManagedProcessError.timedOut {
            outcome = .stalled
        }
        try await client.terminateAndWait()
        try await server.terminateAndWait()
        return outcome
    } catch {
        _ = try? await server.terminateAndWait()
        throw error
    }
}

/// Creates a lab, runs `body`, and destroys the lab even when `body` throws.
private func withLab(
    _ name: String,
    blackholeAbove: Int?,
    _ body: (NetLab) async throws -> Void
) async throws {
    let lab = try await NetLab.create(name: name, blackholeAbove: blackholeAbove)
    do {
        try await body(lab)
    } catch {
        await lab.destroy()
        throw error
    }
    await lab.destroy()
}

/// True when NetLab and python3 can run here. Otherwise the test is skipped with the reason:
/// cancelled (Swift 6.3+, shown as skipped), or on older toolchains the reason is printed and
/// false returned so the test ends early.
private func netLabAvailable() async throws -> Bool {
    var (supported, reason) = await NetLab.checkSupport()
    if supported && !isOnPath("python3") {
        (supported, reason) = (false, "python3 is not installed (the test's TCP endpoints are python one-liners)")
    }
    guard supported else {
        #if compiler(>=6.3)
        try Test.cancel(Comment(rawValue: "NetLab unavailable: \(reason)"))
        #else
        print("SKIPPED (NetLab unavailable): \(reason)")
        return false
        #endif
    }
    return true
}

private func isOnPath(_ name: String) -> Bool {
    let path = ProcessInfo.processInfo.environment["PATH"] ?? ""
    return path.split(separator: ":").contains { access("\($0)/\(name)", X_OK) == 0 }
}
