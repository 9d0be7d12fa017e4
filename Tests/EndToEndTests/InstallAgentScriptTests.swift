import Crypto
import Foundation
import RMMAPI
import RMMTestSupport
import Testing

extension EndToEnd {
    /// `deploy/install-agent.sh`, run unprivileged under a root prefix with a fake systemctl that
    /// records its calls and, on start, runs the unit's ExecStart (paths under the prefix): the
    /// real agent enrolls with a real server.
    @Suite("End to end: the agent install script", .serialized)
    struct InstallAgentScriptTests {
        /// One install root: the prefix, the fake systemctl's call log and the agent it started.
        struct Target {
            let root: String
            var calls: [String] { ((try? String(contentsOfFile: root + "/systemctl.calls", encoding: .utf8)) ?? "").split(separator: "\n").map(String.init) }
            var binary: String { root + "/usr/local/lib/gururmm-agent/gururmm" }
            var unit: String { root + "/etc/systemd/system/gururmm-agent.service" }
            var state: String { root + "/var/lib/gururmm-agent" }
            var agentPid: pid_t? { (try? String(contentsOfFile: root + "/agent.pid", encoding: .utf8)).flatMap { pid_t($0.trimmingCharacters(in: .whitespacesAndNewlines)) } }

            init() throws {
                root = try freeTemporaryDirectory(prefix: "gururmm-install")
                try InstallAgentScriptTests.fakeSystemctl.write(toFile: root + "/systemctl", atomically: true, encoding: .utf8)
                chmod(root + "/systemctl", 0o755)
            }

            /// Runs the script with `arguments`; with `stdinFile`, standard input comes from it through a pipe.
            func install(_ arguments: [String], stdinFile: String? = nil) async throws -> (code: Int32, output: String) {
                let script = try InstallAgentScriptTests.script()
                let command = stdinFile == nil ? ["-c", "exec \"$@\"", "sh"] : ["-c", "cat \"$0\" | \"$@\"", stdinFile ?? ""]
                let process = try ManagedProcess.start("/bin/sh", arguments: command + [script, "--root", root, "--enroll-timeout", "60"] + arguments,
                                                       environment: ["SYSTEMCTL": root + "/systemctl", "FAKE_ROOT": root],
                                                       logPath: root + "/install-\(UUID().uuidString).log")
                let code = try await process.waitForExit(timeout: .seconds(120))
                return (code, process.logContents())
            }

            /// Stops the agent the fake systemctl started, if it still runs.
            func stopAgent() async {
                guard let pid = agentPid, kill(pid, 0) == 0 else { return }
                kill(pid, SIGTERM)
                try? await waitUntil("agent \(pid) exits", timeout: .seconds(10)) { !processAlive(pid) }
                if processAlive(pid) { kill(pid, SIGKILL) }
            }
        }

        /// Records each call; `start`/`restart` run the unit's ExecStart with its paths moved under
        /// FAKE_ROOT (and a short reconnect backoff), `stop` and `disable --now` end that agent.
        static let fakeSystemctl = #"""
        #!/bin/sh
        echo "$*" >> "$FAKE_ROOT/systemctl.calls"
        pidfile="$FAKE_ROOT/agent.pid"
        stop() {
            [ -f "$pidfile" ] || return 0
            pid=$(cat "$pidfile")
            kill "$pid" 2>/dev/null
            n=0
            while kill -0 "$pid" 2>/dev/null && ! grep -q '^State:.*zombie' "/proc/$pid/status" 2>/dev/null && [ $n -lt 100 ]; do sleep 0.1; n=$((n + 1)); done
            rm -f "$pidfile"
        }
        start() {
            if [ -f "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null; then return 0; fi
            command=$(sed -n 's/^ExecStart=//p' "$FAKE_ROOT/etc/systemd/system/gururmm-agent.service" \
                | sed "s#/usr/local/lib/#$FAKE_ROOT/usr/local/lib/#g; s#/var/lib/#$FAKE_ROOT/var/lib/#g")
            # shellcheck disable=SC2086
            nohup $command --max-backoff 1 >> "$FAKE_ROOT/agent.log" 2>&1 < /dev/null &
            echo $! > "$pidfile"
        }
        case "$1" in
            start) start ;;
            restart) stop; start ;;
            stop) stop ;;
            disable) [ "${2:-}" = --now ] && stop ;;
        esac
        exit 0
        """#

        static func script() throws -> String {
            let path = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
                .appendingPathComponent("deploy/install-agent.sh").path
            try #require(FileManager.default.isExecutableFile(atPath: path), "\(path) is missing or not executable")
            return path
        }

        static func sha256(of path: String) throws -> String {
            let data = try Data(contentsOf: URL(fileURLWithPath: path), options: .alwaysMapped)
            return SHA256.hash(data: data).map { String(format: "%02x", $0) }.joined()
        }

        static func modified(_ path: String) -> Date? {
            (try? FileManager.default.attributesOfItem(atPath: path))?[.modificationDate] as? Date
        }

        @Test("a checksum mismatch installs nothing; a token on the command line is refused")
        func refusals() async throws {
            let target = try Target()
            let binary = try gururmmBinary()
            let wrong = String(repeating: "0", count: 64)
            let (code, output) = try await target.install(["--server", "wss://127.0.0.1:9", "--binary", binary, "--sha256", wrong, "--token-file", "-"])
            #expect(code != 0)
            #expect(output.contains("checksum mismatch") && output.contains("Nothing was installed"), "\(output)")
            for path in ["/usr", "/etc", "/var"] {
                #expect(!FileManager.default.fileExists(atPath: target.root + path), "\(path) was created")
            }
            #expect(target.calls.isEmpty, "systemctl was called: \(target.calls)")

            let sum = try Self.sha256(of: binary)
            for flag in [["--token", "abc"], ["--enroll-token=abc"]] {
                let (code, output) = try await target.install(["--server", "wss://127.0.0.1:9", "--binary", binary, "--sha256", sum] + flag)
                #expect(code != 0)
                #expect(output.contains("refusing an enrollment token on the command line"), "\(output)")
                #expect(!FileManager.default.fileExists(atPath: target.binary))
            }
        }

        @Test("a token from a file or standard input enrolls; a rerun changes nothing; --uninstall removes what was installed")
        func installRerunUninstall() async throws {
            let server = try await E2EServer.start(tls: true)
            let fromFile = try Target()
            let fromStdin = try Target()
            do {
                let client = try ClusterEdgeTests.client(of: server)
                let binary = try gururmmBinary()
                let sum = try Self.sha256(of: binary)
                let url = "wss://127.0.0.1:\(server.agentPort)"
                let common = ["--server", url, "--binary", binary, "--sha256", sum]

                // From a file, 0600, the way an operator keeps one.
                let tokenFile = fromFile.root + "/token"
                try (try await client.createEnrollmentToken(expiresSeconds: 600, uses: 1).token ?? "").write(toFile: tokenFile, atomically: true, encoding: .utf8)
                chmod(tokenFile, 0o600)
                let first = try await fromFile.install(common + ["--name", "inst-file", "--token-file", tokenFile])
                try #require(first.code == 0, "install failed: \(first.output)\n\(fromFile.calls)")
                #expect(try await client.agents().contains { $0.name == "inst-file" })
                #expect(!FileManager.default.fileExists(atPath: fromFile.state + "/enroll.token"), "the token is deleted after enrolling")
                #expect(fromFile.calls.contains("enable gururmm-agent.service") && fromFile.calls.contains("restart gururmm-agent.service"))
                let unit = try String(contentsOfFile: fromFile.unit, encoding: .utf8)
                #expect(unit.contains("ExecStart=/usr/local/lib/gururmm-agent/gururmm agent --server \(url) --state-dir /var/lib/gururmm-agent"))
                #expect(!unit.contains("@"), "every placeholder is filled")
                let mode = try FileManager.default.attributesOfItem(atPath: fromFile.binary)[.posixPermissions] as? Int
                #expect(mode == 0o755)

                // From standard input (a pipe).
                let stdinToken = fromStdin.root + "/token"
                try (try await client.createEnrollmentToken(expiresSeconds: 600, uses: 1).token ?? "").write(toFile: stdinToken, atomically: true, encoding: .utf8)
                let piped = try await fromStdin.install(common + ["--name", "inst-stdin", "--token-file", "-"], stdinFile: stdinToken)
                try #require(piped.code == 0, "install from stdin failed: \(piped.output)")
                #expect(try await client.agents().contains { $0.name == "inst-stdin" })

                // A rerun: same identity, files untouched, no restart, no second enrollment.
                let identity = try String(contentsOfFile: fromFile.state + "/identity.json", encoding: .utf8)
                let stamps = [Self.modified(fromFile.binary), Self.modified(fromFile.unit)]
                let callsBefore = fromFile.calls.count
                let again = try await fromFile.install(common + ["--name", "inst-file", "--token-file", tokenFile])
                #expect(again.code == 0, "rerun failed: \(again.output)")
                #expect(again.output.contains("Already enrolled"), "\(again.output)")
                #expect(try String(contentsOfFile: fromFile.state + "/identity.json", encoding: .utf8) == identity)
                #expect([Self.modified(fromFile.binary), Self.modified(fromFile.unit)] == stamps)
                #expect(Array(fromFile.calls.dropFirst(callsBefore)) == ["enable gururmm-agent.service", "start gururmm-agent.service"])
                let enrolls = try await client.audit(limit: 100).filter { $0.action == "agents.enroll" }
                #expect(enrolls.count == 2, "one enrollment per machine: \(enrolls)")
                #expect(try await client.agents().filter { $0.name == "inst-file" }.count == 1)

                // Uninstall needs the identity choice said out loud.
                let unsure = try await fromFile.install(["--uninstall"])
                #expect(unsure.code != 0 && unsure.output.contains("--keep-identity"), "\(unsure.output)")
                let removed = try await fromFile.install(["--uninstall", "--remove-identity"])
                #expect(removed.code == 0, "\(removed.output)")
                for path in [fromFile.binary, fromFile.unit, fromFile.state, fromFile.root + "/usr/local/lib/gururmm-agent"] {
                    #expect(!FileManager.default.fileExists(atPath: path), "\(path) is left")
                }
                #expect(fromFile.calls.contains("disable --now gururmm-agent.service"))
                #expect(fromFile.agentPid == nil, "the agent is stopped")

                let kept = try await fromStdin.install(["--uninstall", "--keep-identity"])
                #expect(kept.code == 0, "\(kept.output)")
                #expect(!FileManager.default.fileExists(atPath: fromStdin.binary) && !FileManager.default.fileExists(atPath: fromStdin.unit))
                #expect(FileManager.default.fileExists(atPath: fromStdin.state + "/identity.json"), "--keep-identity keeps it")
            } catch {
                let logs = [fromFile, fromStdin].map { (try? String(contentsOfFile: $0.root + "/agent.log", encoding: .utf8))?.suffix(3000) ?? "" }
                Issue.record("\(error)\n---- server ----\n\(server.process.logContents().suffix(4000))\n---- agents ----\n\(logs.joined(separator: "\n----\n"))")
            }
            await fromFile.stopAgent()
            await fromStdin.stopAgent()
            await server.stop()
        }
    }
}

/// Whether `pid` is a live process (not gone, not a zombie awaiting its parent).
func processAlive(_ pid: pid_t) -> Bool {
    guard kill(pid, 0) == 0 else { return false }
    let status = (try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8)) ?? ""
    return !status.contains("zombie")
}
