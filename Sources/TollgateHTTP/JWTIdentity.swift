import Foundation
import JWTKit
import TollgateCore

/// Bearer JWTs as an identity (issuer, audience, expiry and signature checked by jwt-kit). Claims:
/// `sub` is the client id, `scope` (space-separated, RFC 8693) or `scopes` (a list) the scopes, and
/// `org` the organisation the caller acts for.
public struct JWTIdentity: TokenVerifier {
    let keys: JWTKeyCollection
    let issuer: String
    let audience: String

    public init(keys: JWTKeyCollection, issuer: String, audience: String) {
        self.keys = keys
        self.issuer = issuer
        self.audience = audience
    }

    /// Keys from a JWKS document (JSON) or a PEM-encoded ES256 public key.
    public static func keys(jwks: String?, pem: String?) async throws -> JWTKeyCollection {
        let collection = JWTKeyCollection()
        if let jwks { try await collection.add(jwksJSON: jwks) }
        if let pem { await collection.add(ecdsa: try ES256PublicKey(pem: pem)) }
        return collection
    }

    public func handles(_ token: Substring) -> Bool {
        token.utf8.lazy.filter { $0 == UInt8(ascii: ".") }.count == 2
    }

    public func identify(_ token: Substring) async -> ClientDirectory.Outcome {
        do {
            let claims = try await keys.verify(String(token), as: Claims.self)
            guard claims.iss.value == issuer else { return .denied(.invalidToken) }
            try claims.aud.verifyIntendedAudience(includes: audience)
            let scopes = Set(claims.scopes ?? claims.scope.map { $0.split(separator: " ").map(String.init) } ?? [])
            let id = ClientRecord.jwtSubjectId(subject: claims.sub.value, issuer: issuer)
            return .identified(.client(ClientRecord(id: id, apiKeySHA256: [], scopes: scopes, organisation: claims.org)))
        } catch {
            return .denied(.invalidToken)
        }
    }

    struct Claims: JWTPayload {
        var sub: SubjectClaim
        var iss: IssuerClaim
        var aud: AudienceClaim
        var exp: ExpirationClaim
        var nbf: NotBeforeClaim?
        var scope: String?
        var scopes: [String]?
        var org: String?

        func verify(using algorithm: some JWTAlgorithm) async throws {
            try exp.verifyNotExpired()
            try nbf?.verifyNotBefore()
        }
    }
}
