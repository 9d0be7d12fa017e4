import RMMTransport
import Testing

/// `system` TLS trust and a site's own CA.
@Suite("System trust")
struct SystemTrustTests {
    @Test("SSL_CERT_FILE names the CA file system trust uses; unset or empty: the system's store")
    func caFileFromEnvironment() {
        #expect(TLSTrust.systemCAFile(environment: ["SSL_CERT_FILE": "/etc/site/ca.pem"]) == "/etc/site/ca.pem")
        #expect(TLSTrust.systemCAFile(environment: ["SSL_CERT_FILE": ""]) == nil)
        #expect(TLSTrust.systemCAFile(environment: ["HOME": "/root"]) == nil)
    }
}
