import Foundation

/// Headless Chromium driven by chromedriver over W3C WebDriver, for the console's browser tests.
///
/// `Browser.with(suite:)` starts chromedriver (on a port the OS picks) and a session with a fresh
/// profile, and always ends both — the session deleted, then chromedriver's process group, the
/// browser with it, killed — also when the test fails, after a `failure` screenshot.
/// Screenshots are saved as `.build/test-artifacts/<suite>/<step>.png`.
public final class Browser: Sendable {
    /// W3C's key for an element reference in a command's answer.
    static let elementKey = "element-6066-11e4-a52e-4f735466cecf"
    let client: WebDriverClient
    let session: String
    private let driver: ManagedProcess
    /// This browser's own temporary directory (profile, config, driver log): every process of
    /// the browser names it on its command line, which is how `close` finds stragglers.
    let directory: String
    /// Where this suite's screenshots go.
    public let artifacts: String

    private init(client: WebDriverClient, session: String, driver: ManagedProcess, directory: String, artifacts: String) {
        self.client = client
        self.session = session
        self.driver = driver
        self.directory = directory
        self.artifacts = artifacts
    }

    /// Runs `body` with a new browser; ends it whatever happens. Skips the test without the tools.
    public static func with<T>(suite: String, _ body: (Browser) async throws -> T) async throws -> T {
        let browser = try await launch(suite: suite)
        do {
            let result = try await body(browser)
            await browser.close()
            return result
        } catch {
            _ = try? await browser.screenshot("failure")
            await browser.close()
            throw error
        }
    }

    /// Starts chromedriver and a headless session; call `close` when done (or use `with`).
    public static func launch(suite: String) async throws -> Browser {
        let tools = try BrowserTools.require()
        let directory = try freeTemporaryDirectory(prefix: "gururmm-browser")
        // chromedriver takes --port=0 and says which port it got: no free-port guessing, no clash.
        // The browser's config directory in here too: its crash handler (a session of its own,
        // outside the process group) then names this directory, and `close` can find it.
        let driver = try ManagedProcess.start(
            tools.chromedriver, arguments: ["--port=0", "--allowed-ips=127.0.0.1"], environment: ["XDG_CONFIG_HOME": directory + "/config"],
            logPath: directory + "/chromedriver.log"
        )
        do {
            try await RMMTestSupport.waitUntil("chromedriver says its port", timeout: .seconds(30)) {
                if !driver.isRunning { throw WebDriverError(command: "launch", error: "chromedriver exited", message: driver.logContents()) }
                return Self.port(inLog: driver.logContents()) != nil
            }
            let port = Self.port(inLog: driver.logContents()) ?? 0
            let client = WebDriverClient(port: port)
            let session = try await client.call("POST", "/session", Self.capabilities(chromium: tools.chromium, profile: directory + "/profile"))
            guard let id = session["sessionId"]?.string else {
                throw WebDriverError(command: "POST /session", error: "no session id", message: "\(session)")
            }
            return Browser(client: client, session: id, driver: driver, directory: directory, artifacts: Self.artifactsDirectory(suite: suite))
        } catch {
            _ = try? await driver.terminateAndWait(grace: .seconds(2))
            killProcesses(naming: directory)
            throw error
        }
    }

    /// The port in chromedriver's "ChromeDriver was started successfully on port N." line.
    static func port(inLog log: String) -> Int? {
        guard let line = log.split(separator: "\n").first(where: { $0.contains("started successfully on port") }) else { return nil }
        return Int(line.split(separator: " ").last?.trimmingCharacters(in: CharacterSet(charactersIn: ".\r")) ?? "")
    }

    static func capabilities(chromium: String, profile: String) -> JSONValue {
        let arguments = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--user-data-dir=\(profile)",
                         "--window-size=1280,900", "--no-first-run", "--no-default-browser-check", "--disable-extensions"]
        return .object(["capabilities": .object(["alwaysMatch": .object([
            "browserName": .string("chrome"),
            "goog:chromeOptions": .object(["binary": .string(chromium), "args": .array(arguments.map(JSONValue.string))]),
            // The page's console and its errors (a CSP violation among them), read by `consoleLog`.
            "goog:loggingPrefs": .object(["browser": .string("ALL")]),
        ])])])
    }

    /// `.build/test-artifacts/<suite>` of the package under test (`GURURMM_TEST_ARTIFACTS` overrides `.build/test-artifacts`).
    static func artifactsDirectory(suite: String) -> String {
        let safe = suite.map { $0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" ? $0 : "-" }
        if let root = ProcessInfo.processInfo.environment["GURURMM_TEST_ARTIFACTS"], !root.isEmpty { return root + "/" + String(safe) }
        let executable = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments.first ?? ""
        let build = executable.range(of: "/.build/").map { String(executable[..<$0.lowerBound]) + "/.build" }
            ?? FileManager.default.currentDirectoryPath + "/.build"
        return build + "/test-artifacts/" + String(safe)
    }

    /// Deletes the session (the browser quits), kills chromedriver's process group (the browser
    /// in it) and any process left that names this browser's directory; safe to repeat.
    public func close() async {
        if driver.isRunning { _ = try? await client.call("DELETE", "/session/\(session)", timeout: .seconds(15)) }
        _ = try? await driver.terminateAndWait(grace: .seconds(5))
        Self.killProcesses(naming: directory)
    }

    /// Pids of the processes whose command line contains `text`.
    public static func processes(naming text: String) -> [pid_t] {
        let pids = ((try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []).compactMap { pid_t($0) }
        return pids.filter { pid in
            guard let line = FileManager.default.contents(atPath: "/proc/\(pid)/cmdline") else { return false }
            return String(decoding: line, as: UTF8.self).contains(text)
        }
    }

    static func killProcesses(naming text: String) {
        for pid in processes(naming: text) where pid != getpid() { kill(pid, SIGKILL) }
    }

    /// Sends a command of this session (`path` after `/session/{id}`).
    @discardableResult
    func command(_ method: String, _ path: String, _ body: JSONValue? = nil) async throws -> JSONValue {
        try await client.call(method, "/session/\(session)" + path, body)
    }
}
