import Foundation

/// An element of the page, as WebDriver refers to it.
public struct BrowserElement: Sendable {
    let browser: Browser
    /// WebDriver's reference to it.
    public let id: String

    public func click() async throws { try await browser.command("POST", "/element/\(id)/click") }

    /// Types `text` into it (a field), after what it already holds.
    public func type(_ text: String) async throws { try await browser.command("POST", "/element/\(id)/value", .object(["text": .string(text)])) }

    public func clear() async throws { try await browser.command("POST", "/element/\(id)/clear") }

    /// Its rendered text.
    public func text() async throws -> String { try await browser.command("GET", "/element/\(id)/text").string ?? "" }

    /// An HTML attribute's value, nil when it has none.
    public func attribute(_ name: String) async throws -> String? {
        try await browser.command("GET", "/element/\(id)/attribute/\(name)").string
    }

    /// A DOM property's value (`value` of a field, `checked`, …).
    public func property(_ name: String) async throws -> JSONValue {
        try await browser.command("GET", "/element/\(id)/property/\(name)")
    }
}

/// A cookie as the browser holds it.
public struct BrowserCookie: Sendable, Equatable {
    public var name: String
    public var value: String
    public var path: String?
    public var httpOnly: Bool
    public var secure: Bool
    public var sameSite: String?
    /// Seconds since 1970 when it expires; nil for a session cookie.
    public var expiry: Double?
}

/// One entry of the page's console log: `SEVERE` for errors (a CSP violation, an exception).
public struct BrowserLogEntry: Sendable, Equatable {
    public var level: String
    public var message: String
    public var source: String?
}

extension Browser {
    /// Loads `url` and waits for its document to load.
    public func open(_ url: String) async throws { try await command("POST", "/url", .object(["url": .string(url)])) }

    /// The address of the page shown now.
    public func currentURL() async throws -> String { try await command("GET", "/url").string ?? "" }

    public func title() async throws -> String { try await command("GET", "/title").string ?? "" }

    /// The first element matching the CSS selector; throws WebDriver's `no such element` when none does.
    public func find(_ css: String) async throws -> BrowserElement {
        try element(from: try await command("POST", "/element", .object(["using": .string("css selector"), "value": .string(css)])))
    }

    /// Every element matching the CSS selector, in document order.
    public func findAll(_ css: String) async throws -> [BrowserElement] {
        let found = try await command("POST", "/elements", .object(["using": .string("css selector"), "value": .string(css)]))
        return try (found.array ?? []).map(element)
    }

    public func click(_ css: String) async throws { try await find(css).click() }

    /// Types `text` into the field matching `css`, replacing what it held.
    public func fill(_ css: String, with text: String) async throws {
        let field = try await find(css)
        try await field.clear()
        try await field.type(text)
    }

    public func text(_ css: String) async throws -> String { try await find(css).text() }

    /// Runs `script` (a function body: `return …`) in the page with `arguments`; returns its result.
    @discardableResult
    public func execute(_ script: String, _ arguments: [JSONValue] = []) async throws -> JSONValue {
        try await command("POST", "/execute/sync", .object(["script": .string(script), "args": .array(arguments)]))
    }

    /// The cookies of the page's origin, HttpOnly ones included.
    public func cookies() async throws -> [BrowserCookie] {
        try await command("GET", "/cookie").array?.map { cookie in
            BrowserCookie(
                name: cookie["name"]?.string ?? "", value: cookie["value"]?.string ?? "", path: cookie["path"]?.string,
                httpOnly: cookie["httpOnly"]?.bool ?? false, secure: cookie["secure"]?.bool ?? false,
                sameSite: cookie["sameSite"]?.string, expiry: cookie["expiry"]?.number
            )
        } ?? []
    }

    /// The console entries logged since the last call (chromedriver hands each out once).
    public func consoleLog() async throws -> [BrowserLogEntry] {
        try await command("POST", "/se/log", .object(["type": .string("browser")])).array?.map { entry in
            BrowserLogEntry(level: entry["level"]?.string ?? "", message: entry["message"]?.string ?? "", source: entry["source"]?.string)
        } ?? []
    }

    /// Waits until `condition` holds, asking again every 100 ms; a WebDriver error (the element
    /// is not there yet) counts as not yet. Throws `WaitTimeoutError` naming `what` after `timeout`.
    public func waitUntil(_ what: String, timeout: Duration = .seconds(10), _ condition: @Sendable @escaping () async throws -> Bool) async throws {
        try await RMMTestSupport.waitUntil(what, timeout: timeout, poll: .milliseconds(100)) {
            do {
                return try await condition()
            } catch is WebDriverError {
                return false
            }
        }
    }

    /// Waits for an element matching `css` and returns it.
    public func waitForElement(_ css: String, timeout: Duration = .seconds(10)) async throws -> BrowserElement {
        try await waitUntil("an element matching \(css)", timeout: timeout) { try await !self.findAll(css).isEmpty }
        return try await find(css)
    }

    /// Waits until the element matching `css` shows text containing `text`.
    public func waitForText(_ css: String, containing text: String, timeout: Duration = .seconds(10)) async throws {
        try await waitUntil("\(css) to show \"\(text)\"", timeout: timeout) { try await self.text(css).contains(text) }
    }

    /// Saves a PNG of the viewport as `<artifacts>/<step>.png` and returns its path.
    @discardableResult
    public func screenshot(_ step: String) async throws -> String {
        let encoded = try await command("GET", "/screenshot").string ?? ""
        guard let png = Data(base64Encoded: encoded) else {
            throw WebDriverError(command: "GET /screenshot", error: "not base64", message: String(encoded.prefix(100)))
        }
        try FileManager.default.createDirectory(atPath: artifacts, withIntermediateDirectories: true)
        let name = step.map { $0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" ? $0 : "-" }
        let path = artifacts + "/" + String(name) + ".png"
        try png.write(to: URL(fileURLWithPath: path))
        return path
    }

    private func element(from value: JSONValue) throws -> BrowserElement {
        guard let id = value[Self.elementKey]?.string else {
            throw WebDriverError(command: "element", error: "no element reference", message: "\(value)")
        }
        return BrowserElement(browser: self, id: id)
    }
}
