import Foundation
import RMMTransport

/// Headless Chromium for `gururmm bench --console --chromium`: chromedriver started on a loopback
/// port it picks itself, one W3C WebDriver session, and the few commands the bench needs
/// (navigate, add a cookie, run a script, a Chromium DevTools command). Each command is one
/// HTTP/1.1 exchange on its own connection (`OneShotHTTP`); answers are JSON `{"value": …}`.
final class BenchWebDriver {
    /// Where the browser and its driver are, from `CHROMIUM` / `CHROMEDRIVER` or the `PATH`.
    struct Tools: Sendable, Equatable {
        var chromium: String
        var chromedriver: String

        /// Both tools, or nil when either is missing.
        static func find(environment: [String: String] = ProcessInfo.processInfo.environment) -> Tools? {
            let path = (environment["PATH"] ?? "/usr/bin:/bin").split(separator: ":").map(String.init)
            func lookUp(_ override: String?, _ names: [String]) -> String? {
                if let override, !override.isEmpty { return FileManager.default.isExecutableFile(atPath: override) ? override : nil }
                for name in names {
                    for directory in path where FileManager.default.isExecutableFile(atPath: directory + "/" + name) { return directory + "/" + name }
                }
                return nil
            }
            guard let chromium = lookUp(environment["CHROMIUM"], ["chromium", "chromium-browser", "google-chrome"]),
                  let driver = lookUp(environment["CHROMEDRIVER"], ["chromedriver"]) else { return nil }
            return Tools(chromium: chromium, chromedriver: driver)
        }
    }

    private let driver: BenchChild
    private let port: Int
    private let session: String
    /// The browser's own directory: every Chromium process names its profile or config in it.
    private let directory: String

    private init(driver: BenchChild, port: Int, session: String, directory: String) {
        self.driver = driver
        self.port = port
        self.session = session
        self.directory = directory
    }

    /// Starts chromedriver (`--port=0`: it reports the port it bound, so no port is guessed) and a
    /// headless session with a fresh profile under `directory`.
    static func start(tools: Tools, directory: String) async throws -> BenchWebDriver {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let driver = try BenchChild(name: "chromedriver", executable: tools.chromedriver,
                                    arguments: ["--port=0", "--allowed-ips=127.0.0.1"],
                                    // Chromium's crash handler, outside the session, then names this directory too.
                                    environment: ["XDG_CONFIG_HOME": directory + "/config"], logPath: directory + "/chromedriver.log")
        do {
            try await benchWait("chromedriver to report its port", timeout: 30) {
                if !driver.isRunning { throw BenchError("chromedriver exited:\n\(driver.exitReport)") }
                return ConsolePageScan.driverPort(inLog: driver.log) != nil
            }
            let port = ConsolePageScan.driverPort(inLog: driver.log) ?? 0
            let arguments = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--user-data-dir=\(directory)/profile",
                             "--window-size=1280,900", "--no-first-run", "--no-default-browser-check", "--disable-extensions"]
            let capabilities: [String: Any] = ["capabilities": ["alwaysMatch": [
                "browserName": "chrome", "pageLoadStrategy": "normal",
                "goog:chromeOptions": ["binary": tools.chromium, "args": arguments],
            ]]]
            let answer = try await call(port: port, "POST", "/session", capabilities, timeout: .seconds(60))
            guard let session = (answer as? [String: Any])?["sessionId"] as? String else { throw BenchError("chromedriver gave no session id: \(answer)") }
            return BenchWebDriver(driver: driver, port: port, session: session, directory: directory)
        } catch {
            await driver.stop(grace: 5)
            Self.killBrowserProcesses(naming: directory)
            throw error
        }
    }

    /// Opens `url` and returns once its `load` event has fired.
    func navigate(_ url: String) async throws {
        _ = try await command("POST", "/url", ["url": url])
    }

    /// Adds a cookie for the current page's origin (a page of it must be open).
    func addCookie(name: String, value: String) async throws {
        _ = try await command("POST", "/cookie", ["cookie": ["name": name, "value": value, "path": "/", "httpOnly": true, "sameSite": "Strict"]])
    }

    /// Runs `script` in the page (a function body) and returns what it returned, as a string.
    func execute(_ script: String) async throws -> String {
        let value = try await command("POST", "/execute/sync", ["script": script, "args": [Any]()])
        guard let text = value as? String else { throw BenchError("the page's script returned \(value), not a string") }
        return text
    }

    /// Has Chromium run `source` in every new document before the page's own scripts (a
    /// DevTools command that chromedriver passes through).
    func runOnEveryNewDocument(_ source: String) async throws {
        try await devTools("Page.addScriptToEvaluateOnNewDocument", ["source": source])
    }

    /// Empties the HTTP cache, so the next load fetches the page's script and styles as a first visit does.
    func clearCache() async throws {
        try await devTools("Network.clearBrowserCache", [:])
    }

    private func devTools(_ method: String, _ parameters: [String: Any]) async throws {
        _ = try await command("POST", "/goog/cdp/execute", ["cmd": method, "params": parameters])
    }

    /// Ends the session (the browser quits), chromedriver, and any browser process left: one
    /// left running would be counted in the idle windows that follow.
    func close() async {
        if driver.isRunning { _ = try? await Self.call(port: port, "DELETE", "/session/\(session)", nil, timeout: .seconds(15)) }
        await driver.stop(grace: 5)
        Self.killBrowserProcesses(naming: directory)
    }

    /// SIGKILLs the processes whose command line names `directory` (this bench's browser's own).
    static func killBrowserProcesses(naming directory: String) {
        let pids = ((try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []).compactMap { pid_t($0) }
        for pid in pids where pid != getpid() {
            guard let line = FileManager.default.contents(atPath: "/proc/\(pid)/cmdline"),
                  String(decoding: line, as: UTF8.self).contains(directory + "/") else { continue }
            kill(pid, SIGKILL)
        }
    }

    private func command(_ method: String, _ path: String, _ body: [String: Any]) async throws -> Any {
        try await Self.call(port: port, method, "/session/\(session)" + path, body, timeout: .seconds(60))
    }

    /// One WebDriver command: its answer's `value`, or a `BenchError` carrying WebDriver's error and message.
    private static func call(port: Int, _ method: String, _ path: String, _ body: [String: Any]?, timeout: Duration) async throws -> Any {
        let payload = try body.map { try JSONSerialization.data(withJSONObject: $0) } ?? (method == "POST" ? Data("{}".utf8) : nil)
        let reply = try await OneShotHTTP.request(method == "DELETE" ? .DELETE : (method == "GET" ? .GET : .POST), host: "127.0.0.1", port: port,
                                                  path: path, tls: nil, headers: [("Content-Type", "application/json; charset=utf-8")],
                                                  body: payload, timeout: .seconds(timeout.components.seconds), maxBody: 16 << 20)
        let value = ((try? JSONSerialization.jsonObject(with: reply.body, options: [.fragmentsAllowed])) as? [String: Any])?["value"]
        if reply.status != 200 || (value as? [String: Any])?["error"] != nil {
            let error = value as? [String: Any]
            throw BenchError("WebDriver \(method) \(path): \(error?["error"] ?? "HTTP \(reply.status)"): "
                             + "\((error?["message"] as? String).map { String($0.prefix(1000)) } ?? String(decoding: reply.body.prefix(1000), as: UTF8.self))")
        }
        return value ?? NSNull()
    }
}
