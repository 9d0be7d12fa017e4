import Foundation
import Synchronization
import Testing
@testable import RMMTestSupport

/// The WebDriver harness against a real headless Chromium: a small site with a strict CSP and an
/// external script, driven as the console's tests will drive the console.
@Suite("Browser harness", .serialized, .timeLimit(.minutes(3)))
struct BrowserHarnessTests {
    static let policy = "default-src 'self'; script-src 'self'; style-src 'self'; form-action 'self'; frame-ancestors 'none'"
    static let page = """
    <!doctype html>
    <html><head><meta charset="utf-8"><title>Harness smoke</title><script src="/app.js" defer></script></head>
    <body>
    <form id="login"><label>Token <input id="token" type="password" name="token"></label>
    <button id="go" type="button">Log in</button></form>
    <p id="status">waiting</p>
    <script>document.getElementById('status').textContent = 'inline script ran';</script>
    </body></html>
    """
    static let script = """
    document.getElementById('go').addEventListener('click', () => {
      const token = document.getElementById('token').value;
      document.getElementById('status').textContent = 'Welcome: ' + token.length + ' characters';
    });
    """

    static func site() async throws -> StaticPageServer {
        try await StaticPageServer.start([
            "/": .init(contentType: "text/html; charset=utf-8", body: page, headers: [
                ("Content-Security-Policy", policy), ("Set-Cookie", "session=s3cr3t; Path=/; HttpOnly; SameSite=Strict"),
            ]),
            "/app.js": .init(contentType: "text/javascript", body: script, headers: [("Content-Security-Policy", policy)]),
        ])
    }

    @Test("fill a field, click, wait for the text, read cookies and the CSP violation, take screenshots")
    func smoke() async throws {
        let site = try await Self.site()
        do {
            try await Browser.with(suite: "BrowserHarness") { browser in
                try await browser.open("http://127.0.0.1:\(site.port)/")
                #expect(try await browser.title() == "Harness smoke")
                // The external script is allowed; the inline one is not, so the text is untouched.
                #expect(try await browser.text("#status") == "waiting")
                let loaded = try await browser.screenshot("1-loaded")
                try await browser.fill("#token", with: "operator-token")
                #expect(try await browser.find("#token").property("value") == .string("operator-token"))
                #expect(try await browser.find("#token").attribute("type") == "password")
                try await browser.click("#go")
                try await browser.waitForText("#status", containing: "Welcome: 14 characters")
                let clicked = try await browser.screenshot("2-clicked")
                for path in [loaded, clicked] {
                    let png = try Data(contentsOf: URL(fileURLWithPath: path))
                    #expect(png.starts(with: [0x89, 0x50, 0x4E, 0x47]), "\(path) is a PNG")
                    #expect(path.hasSuffix(".build/test-artifacts/BrowserHarness/" + (path == loaded ? "1-loaded.png" : "2-clicked.png")), "\(path)")
                }
                let session = try #require(try await browser.cookies().first { $0.name == "session" })
                #expect(session.value == "s3cr3t" && session.httpOnly && session.sameSite == "Strict" && session.expiry == nil)
                let log = try await browser.consoleLog()
                #expect(log.contains { $0.level == "SEVERE" && $0.message.contains("Content Security Policy") && $0.message.contains("inline script") },
                        "the blocked inline script is reported: \(log)")
                #expect(try await browser.execute("return document.querySelectorAll('input').length") == .number(1))
                let missing = await #expect(throws: WaitTimeoutError.self) { try await browser.waitForElement("#absent", timeout: .milliseconds(500)) }
                #expect(missing?.what.contains("#absent") == true)
            }
        } catch {
            await site.stop()
            throw error
        }
        await site.stop()
    }

    @Test("a failing body still ends the browser: a failure screenshot, the session and every browser process gone")
    func teardownOnFailure() async throws {
        struct Planned: Error {}
        let site = try await Self.site()
        let browserDirectory = Mutex<String?>(nil)
        await #expect(throws: Planned.self) {
            try await Browser.with(suite: "BrowserHarnessFailure") { browser in
                browserDirectory.withLock { $0 = browser.directory }
                try await browser.open("http://127.0.0.1:\(site.port)/")
                throw Planned()
            }
        }
        await site.stop()
        let directory = try #require(browserDirectory.withLock { $0 })
        try await waitUntil("no process uses \(directory)", timeout: .seconds(15)) { Browser.processes(naming: directory).isEmpty }
        #expect(FileManager.default.fileExists(atPath: Browser.artifactsDirectory(suite: "BrowserHarnessFailure") + "/failure.png"))
    }
}
