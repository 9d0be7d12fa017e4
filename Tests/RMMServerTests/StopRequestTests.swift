import Testing

@testable import RMMServer

/// A signal's stop before the services run ends the start; after, it shuts them down gracefully.
@Suite struct StopRequestTests {
    @Test("a stop before the services are ready is remembered, and they are not started")
    func stopBeforeStart() {
        var request = StopRequest()
        #expect(request.stopRequested() == .remember)
        let run = request.servicesReadyToRun()
        #expect(!run)
    }

    @Test("a stop once the services are ready shuts them down")
    func stopAfterStart() {
        var request = StopRequest()
        let run = request.servicesReadyToRun()
        #expect(run)
        #expect(request.stopRequested() == .shutDownServices)
        #expect(request.stopRequested() == .shutDownServices, "a second signal asks again; the group ignores it")
    }
}
