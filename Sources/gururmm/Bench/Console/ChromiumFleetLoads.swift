import Foundation

/// The fleet page loaded in headless Chromium with a console session: what an operator's browser
/// sees, where the HTTP timings only see the server.
enum ChromiumFleetLoads {
    /// Starts the browser, gives it the session's cookie, loads `base + "/"` `count` times (each
    /// a new navigation: the page's `load` event, then its timings read; the first with an empty
    /// cache) and ends the browser.
    static func measure(tools: BenchWebDriver.Tools, directory: String, base: String, cookie: String, count: Int,
                        note: (String) -> Void) async throws -> ChromiumFigures {
        let browser = try await BenchWebDriver.start(tools: tools, directory: directory)
        do {
            // A cookie is set for the page that is open: any page of the console's origin.
            try await browser.navigate(base + "/login")
            try await browser.addCookie(name: ConsolePageScan.sessionCookie, value: cookie)
            do {
                try await browser.runOnEveryNewDocument(ChromiumPageLoad.observerScript)
            } catch {
                note("Chromium would not run the row observer (\(error)); the first row's time is the end of parsing instead")
            }
            // The login page fetched the shared script and styles: the first load is a first visit again.
            try await browser.clearCache()
            var loads: [ChromiumPageLoad] = []
            for _ in 0..<count {
                try await browser.navigate(base + "/")
                let load = try ChromiumPageLoad.parse(try await browser.execute(ChromiumPageLoad.readScript))
                guard load.rows > 0 else { throw BenchError("the fleet page in Chromium shows no agent rows (was the session cookie refused?)") }
                loads.append(load)
            }
            await browser.close()
            return ChromiumFigures(loads: loads)
        } catch {
            await browser.close()
            throw error
        }
    }
}
