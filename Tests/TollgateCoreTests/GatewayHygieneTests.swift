import HTTPTypes
import Synchronization
import Testing
import TollgateCore

/// What a client may not smuggle to the upstream, and what it may not make the gateway read.
@Suite struct GatewayHygieneTests {
    static func field(_ name: String) -> HTTPField.Name { HTTPField.Name(name)! }

    @Test func smuggledHeadersNeverReachTheUpstream() async throws {
        let harness = GatewayHarness()
        var fields = HTTPFields()
        fields[ClientDirectory.apiKeyField] = GatewayHarness.aliceKey
        fields[.connection] = "keep-alive, X-Internal-Note"
        fields[Self.field("X-Internal-Note")] = "drop me"
        fields[Self.field("X-HTTP-Method-Override")] = "DELETE"
        fields[Self.field("X-Method-Override")] = "DELETE"
        fields[Self.field("X-HTTP-Method")] = "DELETE"
        fields[Self.field("Forwarded")] = "for=203.0.113.9"
        fields[Self.field("X-Real-IP")] = "203.0.113.9"
        fields[Self.field("X-Forwarded-For")] = "203.0.113.9"
        fields[Self.field("X-Forwarded-Proto")] = "https"
        fields[Self.field("X-Forwarded-Prefix")] = "/admin"
        fields[Self.field("Host")] = "api.test"
        let response = await harness.gateway.handle(GatewayRequest(method: .get, target: "/health", headerFields: fields, remoteAddress: "198.51.100.7"))
        #expect(response.status == .ok)

        let forwarded = try #require(harness.upstream.received.first).headerFields
        for name in ["X-Internal-Note", "X-HTTP-Method-Override", "X-Method-Override", "X-HTTP-Method", "X-Real-IP", "X-Forwarded-Proto",
                     "X-Forwarded-Prefix", "Connection"] {
            #expect(forwarded[Self.field(name)] == nil, "\(name) reached the upstream")
        }
        // The gateway's own view of the client replaces the client's claims.
        #expect(forwarded[values: Self.field("X-Forwarded-For")] == ["198.51.100.7"])
        #expect(forwarded[values: Self.field("Forwarded")] == ["for=198.51.100.7"])
        #expect(forwarded[Self.field("X-Forwarded-Host")] == "api.test")
    }

    /// A body reader that records whether it was asked.
    final class Reader: Sendable {
        let asked = Mutex(false)
        let body: [UInt8]
        let fails: Bool
        init(body: [UInt8] = Array("{}".utf8), fails: Bool = false) {
            self.body = body
            self.fails = fails
        }
        var read: @Sendable () async throws -> [UInt8] {
            { [self] in
                asked.withLock { $0 = true }
                if fails { throw TollgateError(.storeUnavailable, "over the limit") }
                return body
            }
        }
    }

    /// Rails, Laravel and Symfony run `DELETE` for a POST whose query or form body says `_method=DELETE`: the gateway
    /// would have authorized and priced a POST. Refused (nothing forwarded, nothing priced); a `_method` that is only a
    /// file's contents, or on a GET, is no override.
    @Test func aPostNamingAnotherMethodIsRefused() async throws {
        let harness = GatewayHarness()
        let form = Self.field("Content-Type")
        let overrides: [(String, String?, String)] = [
            ("/datasets/prices?_method=DELETE", nil, ""),
            ("/datasets/prices?a=1&%5Fmethod=DELETE", nil, ""),
            ("/datasets/prices", "application/x-www-form-urlencoded", "name=x&_method=DELETE"),
            ("/datasets/prices", "multipart/form-data; boundary=b", "--b\r\nContent-Disposition: form-data; name=\"_method\"\r\n\r\nDELETE\r\n--b--\r\n"),
            // As PHP reads names (Symfony, Laravel): `.method` is `_method`; an array of that name too.
            ("/datasets/prices?.method=DELETE", nil, ""),
            ("/datasets/prices", "application/x-www-form-urlencoded", "_method%5B%5D=DELETE"),
            // The name anywhere among the part's parameters, however spaced.
            ("/datasets/prices", "multipart/form-data; boundary=b", "--b\r\ncontent-disposition: form-data; x=1;  name=_method\r\n\r\nDELETE\r\n--b--\r\n"),
            // Laravel reads a JSON body's members as parameters.
            ("/datasets/prices", "application/json", #"{"q":"ACME","_method":"DELETE"}"#),
        ]
        for (target, type, body) in overrides {
            var fields: HTTPFields = [ClientDirectory.apiKeyField: GatewayHarness.aliceKey]
            if let type { fields[form] = type }
            let response = await harness.gateway.handle(GatewayRequest(method: .post, target: target, headerFields: fields, body: Array(body.utf8)))
            #expect(response.status == .badRequest, "\(target) \(body)")
            #expect(response.reason == "method_override", "\(target) \(body)")
        }
        #expect(harness.upstream.received.isEmpty)

        var upload: HTTPFields = [ClientDirectory.apiKeyField: GatewayHarness.aliceKey]
        upload[form] = "multipart/form-data; boundary=b"
        let file = "--b\r\nContent-Disposition: form-data; name=\"page\"; filename=\"f.html\"\r\n\r\n<input name=\"_method\">\r\n--b--\r\n"
        var json: HTTPFields = [ClientDirectory.apiKeyField: GatewayHarness.aliceKey]
        json[form] = "application/json"
        let notAnOverride = [
            GatewayRequest(method: .post, target: "/datasets/prices", headerFields: upload, body: Array(file.utf8)),
            GatewayRequest(method: .post, target: "/datasets/prices", headerFields: json, body: Array(#"{"note":{"_method":"x"},"q":"_method"}"#.utf8)),
            GatewayRequest(method: .get, target: "/datasets/prices?_method=DELETE", headerFields: [ClientDirectory.apiKeyField: GatewayHarness.aliceKey]),
        ]
        for request in notAnOverride {
            // Priced as any other request: a 402 with terms.
            #expect(await harness.gateway.handle(request).status == .paymentRequired, "\(request.target)")
        }
    }

    @Test func anUnknownKeyOrAMissingScopeIsRefusedBeforeTheBodyIsRead() async {
        let harness = GatewayHarness()
        for (key, method, target, status) in [("not-a-key", HTTPRequest.Method.post, "/datasets/x", HTTPResponse.Status.unauthorized),
                                              (GatewayHarness.bobKey, .get, "/reports/x", .forbidden)] {
            let reader = Reader()
            var fields = HTTPFields()
            fields[ClientDirectory.apiKeyField] = key
            let response = await harness.gateway.handle(GatewayRequest(method: method, target: target, headerFields: fields, bodyReader: reader.read))
            #expect(response.status == status)
            #expect(!reader.asked.withLock { $0 })
        }
    }

    @Test func aCallerOutOfBudgetIsRefusedBeforeTheBodyIsRead() async {
        let harness = GatewayHarness(limits: GatewayAdmissionTests.tight)
        _ = await harness.send("/datasets/a")
        _ = await harness.send("/datasets/a")
        let reader = Reader()
        var fields = HTTPFields()
        fields[ClientDirectory.apiKeyField] = GatewayHarness.aliceKey
        let response = await harness.gateway.handle(GatewayRequest(method: .post, target: "/datasets/a", headerFields: fields, bodyReader: reader.read))
        #expect(response.status == .tooManyRequests)
        #expect(!reader.asked.withLock { $0 })
    }

    @Test func aBodyOverTheLimitIs413AndAudited() async throws {
        let harness = GatewayHarness()
        let reader = Reader(fails: true)
        var fields = HTTPFields()
        fields[ClientDirectory.apiKeyField] = GatewayHarness.aliceKey
        let response = await harness.gateway.handle(GatewayRequest(method: .post, target: "/datasets/a", headerFields: fields, bodyReader: reader.read))
        #expect(response.status == .contentTooLarge)
        #expect(response.reason == "request_body_too_large")
        #expect(harness.upstream.received.isEmpty)
        #expect(try await harness.events(response.correlationId).map(\.reason) == ["request_body_too_large"])
    }

    @Test func oneAttackerBehindASharedAddressCannotExhaustAnIdentifiedClientsInvalidProofBudget() async throws {
        var open = GatewayHarness.datasets
        open.allowsAnonymous = true
        let harness = GatewayHarness(limits: GatewayAdmissionTests.tight, routes: RouteTable([open]))
        let loadBalancer = "10.0.0.1"
        // An anonymous attacker behind the load balancer floods forged proofs.
        let (_, anonymous) = try await harness.offerAndProof(apiKey: nil)
        harness.rail.update { $0.localVerdict = .invalid(.signatureInvalid, detail: "forged") }
        for nonce in 0..<6 {
            var forged = anonymous
            forged.nonce = "0x7\(nonce)"
            var fields = HTTPFields()
            fields[ScriptedRail.proofField] = forged.header
            _ = await harness.gateway.handle(GatewayRequest(method: .get, target: "/datasets/prices", headerFields: fields, remoteAddress: loadBalancer))
        }
        harness.rail.update { $0.localVerdict = .valid(payer: "") }
        // alice, behind the same load balancer, still pays.
        let offer = await harness.gateway.handle(GatewayRequest(method: .get, target: "/datasets/prices",
                                                                headerFields: [ClientDirectory.apiKeyField: GatewayHarness.aliceKey], remoteAddress: loadBalancer))
        let proof = harness.proof(nonce: "0x99", offerToken: try #require(offer.offerTokens.first))
        var fields = HTTPFields()
        fields[ClientDirectory.apiKeyField] = GatewayHarness.aliceKey
        fields[ScriptedRail.proofField] = proof.header
        let paid = await harness.gateway.handle(GatewayRequest(method: .get, target: "/datasets/prices", headerFields: fields, remoteAddress: loadBalancer))
        #expect(paid.status == .ok)
    }
}
