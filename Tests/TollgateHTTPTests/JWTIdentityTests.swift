import Foundation
import JWTKit
import Testing
import TollgateCore
@testable import TollgateHTTP

@Suite struct JWTIdentityTests {
    struct Token: JWTPayload {
        var sub: SubjectClaim
        var iss: IssuerClaim
        var aud: AudienceClaim
        var exp: ExpirationClaim
        var scope: String?
        var org: String?
        func verify(using algorithm: some JWTAlgorithm) async throws {}
    }

    static func token(_ key: ES256PrivateKey, subject: String = "agent-7", issuer: String = "https://auth.test", audience: String = "tollgate",
                      expires: Date = Date().addingTimeInterval(300)) async throws -> String {
        let signer = JWTKeyCollection()
        await signer.add(ecdsa: key)
        return try await signer.sign(Token(sub: .init(value: subject), iss: .init(value: issuer), aud: .init(value: [audience]), exp: .init(value: expires),
                                           scope: "reports:read read:private", org: "acme"))
    }

    func verifier(for key: ES256PrivateKey) async throws -> JWTIdentity {
        JWTIdentity(keys: try await JWTIdentity.keys(jwks: nil, pem: key.publicKey.pemRepresentation), issuer: "https://auth.test", audience: "tollgate")
    }

    @Test func aValidTokenNamesTheClientItsScopesAndOrganisation() async throws {
        let key = ES256PrivateKey()
        let token = try await Self.token(key)
        let verifier = try await verifier(for: key)
        #expect(verifier.handles(Substring(token)))
        #expect(!verifier.handles("tg_demo_reports_key"))
        guard case .identified(.client(let client)) = await verifier.identify(Substring(token)) else {
            Issue.record("a valid token was refused")
            return
        }
        // The subject in its own namespace, per issuer.
        #expect(client.id == "jwt:agent-7@https://auth.test")
        #expect(client.scopes == ["reports:read", "read:private"])
        #expect(client.organisation == "acme")
    }

    @Test func aSubjectNamedLikeAnAPIKeyClientOrAnonymousIsAnotherClient() async throws {
        let key = ES256PrivateKey()
        let verifier = try await verifier(for: key)
        var ids: Set<String> = []
        for subject in ["analyst", "anonymous", "a@https://auth.test", "jwt:analyst@https://auth.test"] {
            guard case .identified(.client(let client)) = await verifier.identify(Substring(try await Self.token(key, subject: subject))) else {
                Issue.record("\(subject) was refused")
                continue
            }
            #expect(client.id != "analyst" && client.id != "anonymous")
            ids.insert(client.id)
        }
        #expect(ids.count == 4)
        // An `@` carrying a combining mark is escaped too: the issuer part is never ambiguous.
        #expect(ClientRecord.jwtSubjectId(subject: "a@\u{301}b", issuer: "https://auth.test") == "jwt:a%40\u{301}b@https://auth.test")
    }

    @Test func configuredClientsCannotTakeTheNamesOfOtherNamespaces() {
        #expect(ClientRecord.reservedNameProblem("anonymous") != nil)
        #expect(ClientRecord.reservedNameProblem("jwt:agent-7@https://auth.test") != nil)
        #expect(ClientRecord.reservedNameProblem("analyst") == nil)
    }

    @Test func refusesWrongIssuerAudienceExpiryOrKey() async throws {
        let key = ES256PrivateKey()
        let verifier = try await verifier(for: key)
        let wrong = [
            try await Self.token(key, issuer: "https://evil.test"),
            try await Self.token(key, audience: "someone-else"),
            try await Self.token(key, expires: Date().addingTimeInterval(-60)),
            try await Self.token(ES256PrivateKey()),
        ]
        for token in wrong {
            #expect(await verifier.identify(Substring(token)) == .denied(.invalidToken))
        }
        #expect(await verifier.identify("a.b.c") == .denied(.invalidToken))
    }
}
