import Crypto
import Foundation
import NIOSSL
import RMMTransport
import SwiftASN1
import X509

/// How the server's listeners speak: TLS with a certificate it made itself (the default), TLS with
/// an operator's certificate, or plain text for local use only.
public enum ServerTLSMode: Sendable, Equatable {
    case selfSigned
    case files(certificate: String, key: String)
    case plain
}

/// The server's TLS identity: the configuration both listeners use and the pin agents get in
/// enrollment tokens (the SHA-256 of the certificate's public key).
struct ServerTLS: Sendable {
    let configuration: TLSConfiguration
    let pin: String

    /// Loads the certificate and key, creating a self-signed pair in the data directory on first start.
    static func load(_ mode: ServerTLSMode, dataDirectory: DataDirectory) throws -> ServerTLS? {
        switch mode {
        case .plain:
            return nil
        case .files(let certificatePath, let keyPath):
            return try make(certificatePEM: read(certificatePath, what: "--tls-cert"), keyPEM: read(keyPath, what: "--tls-key"))
        case .selfSigned:
            let certificatePath = dataDirectory.path + "/tls.crt"
            let keyPath = dataDirectory.path + "/tls.key"
            let keep = "The server never replaces an existing TLS key: enrolled agents pinned it and would refuse a new one."
            let existingKey: Data?
            do {
                existingKey = try PrivateStorage.readIfPresent(keyPath)
            } catch {
                throw StartupError("\(error). Fix its permissions (the server's user must be able to read it) or restore it from a backup. \(keep)")
            }
            guard let existingKey else {
                let (certificate, key) = try selfSigned()
                try SecretFile.write(key, to: keyPath)
                try SecretFile.write(certificate, to: certificatePath)
                return try make(certificatePEM: certificate, keyPEM: key)
            }
            let keyPEM = String(decoding: existingKey, as: UTF8.self)
            let certificate: String
            if let stored = try? PrivateStorage.readIfPresent(certificatePath) {
                certificate = String(decoding: stored, as: UTF8.self)
            } else if FileManager.default.fileExists(atPath: certificatePath) {
                certificate = try read(certificatePath, what: "the server certificate")
            } else {
                // The key is there, its certificate not (a first start stopped between the two
                // writes): a certificate is made again for the same key, so the pin is unchanged.
                guard let key = try? P256.Signing.PrivateKey(pemRepresentation: keyPEM) else {
                    throw StartupError("\(certificatePath) is missing and \(keyPath) is not a P-256 key to make it again from: restore them from a backup. \(keep)")
                }
                certificate = try selfSigned(key: key).certificate
                try SecretFile.write(certificate, to: certificatePath)
            }
            do {
                return try make(certificatePEM: certificate, keyPEM: keyPEM)
            } catch {
                throw StartupError("\(error) (\(certificatePath), \(keyPath)): restore them from a backup. \(keep)")
            }
        }
    }

    private static func read(_ path: String, what: String) throws -> String {
        do {
            guard let data = try PrivateStorage.readIfPresent(path) else { throw PrivateStorageError("cannot read \(path): it does not exist") }
            return String(decoding: data, as: UTF8.self)
        } catch {
            throw StartupError("cannot read \(what): \(error)")
        }
    }

    private static func make(certificatePEM: String, keyPEM: String) throws -> ServerTLS {
        let chain: [NIOSSLCertificate]
        let key: NIOSSLPrivateKey
        do {
            chain = try NIOSSLCertificate.fromPEMBytes(Array(certificatePEM.utf8))
            key = try NIOSSLPrivateKey(bytes: Array(keyPEM.utf8), format: .pem)
        } catch {
            throw RequestError(500, "TLS certificate or key is not valid PEM: \(error)")
        }
        guard let leaf = chain.first else { throw RequestError(500, "the TLS certificate file holds no certificate") }
        var configuration = TLSConfiguration.makeServerConfiguration(certificateChain: chain.map { .certificate($0) }, privateKey: .privateKey(key))
        configuration.minimumTLSVersion = .tlsv12
        return ServerTLS(configuration: configuration, pin: try TLSTrust.pin(of: leaf))
    }

    /// A new P-256 key and a ten-year self-signed certificate for it, both PEM. Agents pin the key,
    /// so the names in it only matter to clients that check them (browsers, curl).
    static func selfSigned(key: P256.Signing.PrivateKey = P256.Signing.PrivateKey(), now: Date = Date()) throws -> (certificate: String, key: String) {
        let host = ProcessInfo.processInfo.hostName
        let name = try DistinguishedName {
            OrganizationName("GuruRMM")
            CommonName("GuruRMM server \(host)")
        }
        var names: [GeneralName] = [.dnsName("localhost"), .ipAddress(ASN1OctetString(contentBytes: [127, 0, 0, 1])),
                                    .ipAddress(ASN1OctetString(contentBytes: ArraySlice([UInt8](repeating: 0, count: 15) + [1])))]
        if !host.isEmpty, host != "localhost" { names.append(.dnsName(host)) }
        let certificate = try Certificate(
            version: .v3,
            serialNumber: Certificate.SerialNumber(),
            publicKey: .init(key.publicKey),
            notValidBefore: now.addingTimeInterval(-3600),
            notValidAfter: now.addingTimeInterval(10 * 365 * 86_400),
            issuer: name,
            subject: name,
            signatureAlgorithm: .ecdsaWithSHA256,
            extensions: try Certificate.Extensions {
                Critical(BasicConstraints.notCertificateAuthority)
                Critical(KeyUsage(digitalSignature: true))
                try ExtendedKeyUsage([.serverAuth])
                SubjectAlternativeNames(names)
            },
            issuerPrivateKey: .init(key)
        )
        return (try certificate.serializeAsPEM().pemString + "\n", key.pemRepresentation + "\n")
    }
}
