import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import NIOCore
import Testing
import TollgateCore
import TollgateDevFacilitator
import TollgateHTTP
import TollgateSQLite
import TollgateX402

/// The Hummingbird door, attacked from the client's side: nobody reaches a priced handler without a settled
/// payment, a payment is collected once, a handler that fails costs nothing, and what the handler reads from
/// its context comes from the gateway, never from the request.
@Suite struct TollgateMiddlewareTests {
    @Test func anUnpaidRequestGetsTermsAndTheHandlerNeverRuns() async throws {
        try await MiddlewareStack.with { stack, client in
            let offer = try await client.execute(uri: "/quotes/ACME", method: .get)
            #expect(offer.status.code == 402)
            #expect(offer.headers[.cacheControl] == "no-store")
            let terms = try #require(offer.terms)
            #expect(terms.resource.url == "http://127.0.0.1:8410/quotes/ACME")
            #expect(terms.accepts.first?.amount == "10000")
            #expect(offer.correlationId?.hasPrefix("tg_") == true)
            // Forged contract fields and a proof that is not one buy nothing either.
            let forged = try await client.execute(uri: "/quotes/ACME", method: .get, headers: [
                .tollgatePayer: "0x000000000000000000000000000000000000dEaD", .tollgateAmount: "10000",
                .paymentSignatureField: "bm90IGEgcHJvb2Y=",
            ])
            #expect(forged.status.code == 402)
            #expect(await stack.handlers.seen.isEmpty)
            #expect(try await stack.facilitator.ledger.transferCount() == 0)
        }
    }

    @Test func authorizationComesBeforeTheTerms() async throws {
        try await MiddlewareStack.with { stack, client in
            let anonymous = try await client.execute(uri: "/reports/daily", method: .get)
            #expect(anonymous.status.code == 401)
            #expect(anonymous.headers[.paymentRequiredField] == nil)
            let unknown = try await client.execute(uri: "/reports/daily", method: .get, headers: [.apiKeyField: "tg_guessed_key"])
            #expect(unknown.status.code == 401)
            #expect(unknown.headers[.paymentRequiredField] == nil)
            let withoutScope = try await client.execute(uri: "/reports/daily", method: .get, headers: [.apiKeyField: "tg_viewer_key"])
            #expect(withoutScope.status.code == 403)
            #expect(withoutScope.headers[.paymentRequiredField] == nil)
            // A valid proof does not open the door to a caller who may not use the resource.
            let analyst = try await client.execute(uri: "/reports/daily", method: .get, headers: [.apiKeyField: "tg_demo_reports_key"])
            #expect(analyst.status.code == 402)
            let (proof, _) = try MiddlewareStack.pay(analyst)
            let stolen = try await client.execute(uri: "/reports/daily", method: .get, headers: [.apiKeyField: "tg_viewer_key", .paymentSignatureField: proof])
            #expect(stolen.status.code == 403)
            #expect(await stack.handlers.seen.isEmpty)
            #expect(try await stack.facilitator.ledger.transferCount() == 0)
        }
    }

    @Test func aPaidRetryReachesTheHandlerWithThePaymentInItsContext() async throws {
        try await MiddlewareStack.with { stack, client in
            let offer = try await client.execute(uri: "/quotes/ACME", method: .get)
            let (proof, payer) = try MiddlewareStack.pay(offer)
            let paid = try await client.execute(uri: "/quotes/ACME", method: .get, headers: [
                .paymentSignatureField: proof, .tollgatePayer: "0x000000000000000000000000000000000000dEaD",
                .tollgateCorrelationId: "tg_chosen_by_the_client", HTTPField.Name("X-Forwarded-For")!: "6.6.6.6",
            ])
            #expect(paid.status.code == 200)
            #expect(paid.text == "quote ACME for \(payer)")
            #expect(paid.headers[.cacheControl] == "private")
            let receipt = try #require(paid.receipt)
            #expect(receipt.success)
            #expect(paid.correlationId == offer.correlationId)

            let seen = try #require(await stack.handlers.last)
            let tollgate = try #require(seen.tollgate)
            #expect(tollgate.payer == payer)
            #expect(tollgate.clientId == "anonymous")
            #expect(tollgate.correlationId == paid.correlationId)
            #expect(tollgate.amount?.hasPrefix("10000 ") == true)
            #expect(tollgate.unit == "request=1")
            #expect(tollgate.isCharged)
            // The handler sees the gateway's request: no proof, no client-made contract or address fields.
            #expect(seen.headers[.paymentSignatureField] == nil)
            #expect(seen.headers[.tollgatePayer] == payer)
            #expect(seen.headers[.tollgateCorrelationId] == paid.correlationId)
            #expect(seen.headers[HTTPField.Name("X-Forwarded-For")!] == nil)
            #expect(tollgate.clientAddress == nil)

            #expect(try await stack.facilitator.ledger.transferCount() == 1)
            let payments = try await stack.store.payments(correlationId: try #require(paid.correlationId))
            #expect(payments.map(\.transaction) == [receipt.transaction])
        }
    }

    @Test func aReplayIsRefusedAndTheHandlerDoesNotRunAgain() async throws {
        try await MiddlewareStack.with { stack, client in
            let (proof, _) = try MiddlewareStack.pay(try await client.execute(uri: "/quotes/ACME", method: .get))
            let paid = try await client.execute(uri: "/quotes/ACME", method: .get, headers: [.paymentSignatureField: proof])
            #expect(paid.status.code == 200)
            let replay = try await client.execute(uri: "/quotes/ACME", method: .get, headers: [.paymentSignatureField: proof])
            #expect(replay.status.code == 402)
            #expect(replay.terms?.error == "invalid_exact_evm_nonce_already_used")
            // The proof is bound to its resource: another symbol is another offer.
            let elsewhere = try await client.execute(uri: "/quotes/GLOBEX", method: .get, headers: [.paymentSignatureField: proof])
            #expect(elsewhere.status.code == 402)
            #expect(await stack.handlers.seen.count == 1)
            #expect(try await stack.facilitator.ledger.transferCount() == 1)
        }
    }

    @Test func anIdentifiedRetryGetsTheStoredAnswerWithoutRunningTheHandler() async throws {
        try await MiddlewareStack.with { stack, client in
            let key: HTTPFields = [.apiKeyField: "tg_demo_reports_key"]
            let (proof, _) = try MiddlewareStack.pay(try await client.execute(uri: "/reports/daily", method: .get, headers: key))
            var withProof = key
            withProof[.paymentSignatureField] = proof
            let paid = try await client.execute(uri: "/reports/daily", method: .get, headers: withProof)
            #expect(paid.status.code == 200)
            #expect(paid.text == "report for analyst")
            let retry = try await client.execute(uri: "/reports/daily", method: .get, headers: withProof)
            #expect(retry.status.code == 200)
            #expect(retry.text == paid.text)
            #expect(retry.receipt?.transaction == paid.receipt?.transaction)
            #expect(await stack.handlers.runs("/reports/daily") == 1)
            // The handler learns the client from its context; the key itself never reaches it.
            let seen = try #require(await stack.handlers.last)
            #expect(seen.tollgate?.clientId == "analyst")
            #expect(seen.headers[.apiKeyField] == nil)
            #expect(seen.headers[.authorization] == nil)
            #expect(try await stack.facilitator.ledger.transferCount() == 1)
        }
    }

    @Test func aHandlerThatThrowsIsNotChargedAndTheProofStaysUsable() async throws {
        try await MiddlewareStack.with { stack, client in
            let (proof, _) = try MiddlewareStack.pay(try await client.execute(uri: "/broken/throws", method: .get))
            let failed = try await client.execute(uri: "/broken/throws", method: .get, headers: [.paymentSignatureField: proof])
            #expect(failed.status.code == 502)
            #expect(failed.headers[.paymentResponseField] == nil)
            #expect(failed.text.contains("nothing was charged"))
            let again = try await client.execute(uri: "/broken/throws", method: .get, headers: [.paymentSignatureField: proof])
            #expect(again.status.code == 502)
            #expect(await stack.handlers.runs("/broken/throws") == 2)
            #expect(try await stack.facilitator.ledger.transferCount() == 0)
            let events = try await stack.store.events(correlationId: try #require(failed.correlationId))
            #expect(events.contains { $0.event.stage == .forward && $0.event.reason == "upstream_unavailable" })
            #expect(!events.contains { $0.event.stage == .settle })
            #expect(try await stack.store.payments(correlationId: try #require(failed.correlationId)).isEmpty)
        }
    }

    @Test(arguments: [("/broken/status", 500), ("/broken/http-error", 503), ("/broken/missing", 404)])
    func aHandlerAnsweringAnErrorIsNotCharged(path: String, status: Int) async throws {
        try await MiddlewareStack.with { stack, client in
            let (proof, _) = try MiddlewareStack.pay(try await client.execute(uri: path, method: .get))
            let failed = try await client.execute(uri: path, method: .get, headers: [.paymentSignatureField: proof])
            #expect(failed.status.code == status)
            #expect(failed.headers[.paymentResponseField] == nil)
            #expect(try await stack.facilitator.ledger.transferCount() == 0)
            let events = try await stack.store.events(correlationId: try #require(failed.correlationId))
            #expect(events.contains { $0.event.stage == .respond && $0.event.reason == "upstream_refused" })
        }
    }

    @Test func aHandlerAnsweringMoreThanTheLimitIsNotCharged() async throws {
        try await MiddlewareStack.with { stack, client in
            let (proof, _) = try MiddlewareStack.pay(try await client.execute(uri: "/broken/large", method: .get))
            let failed = try await client.execute(uri: "/broken/large", method: .get, headers: [.paymentSignatureField: proof])
            #expect(failed.status.code == 502)
            #expect(!failed.text.contains("aaaa"))
            #expect(await stack.handlers.runs("/broken/large") == 1)
            #expect(try await stack.facilitator.ledger.transferCount() == 0)
        }
    }

    @Test func anOversizedBodyIsRefusedBeforeTheHandler() async throws {
        try await MiddlewareStack.with { stack, client in
            let large = ByteBuffer(repeating: 0x7B, count: 65)
            let declared = try await client.execute(uri: "/uploads", method: .post, body: large)
            #expect(declared.status.code == 413)
            let small = try await client.execute(uri: "/uploads", method: .post, body: ByteBuffer(string: #"{"a":1}"#))
            #expect(small.status.code == 402)
            let (proof, _) = try MiddlewareStack.pay(small)
            let paid = try await client.execute(uri: "/uploads", method: .post, headers: [.paymentSignatureField: proof], body: ByteBuffer(string: #"{"a":1}"#))
            #expect(paid.status.code == 200)
            // The handler reads the body the gateway read (and bound into the offer).
            #expect(await stack.handlers.last?.body == #"{"a":1}"#)
            #expect(await stack.handlers.runs("/uploads") == 1)
        }
    }

    @Test func aPathNotInItsNormalFormNeverReachesAHandler() async throws {
        try await MiddlewareStack.with(unmatched: "pass") { stack, client in
            // The router would match `/qu%6Ftes/…` or `/%71uotes/…` as sent, the gateway price `/quotes/…`.
            for path in ["/qu%6Ftes/ACME", "/quotes/%41CME", "/health%2e"] {
                let refused = try await client.execute(uri: path, method: .get)
                #expect(refused.status.code == 400, "\(path)")
            }
            for path in ["/quotes/../health", "/quotes/ACME%2F..%2Fx"] {
                let refused = try await client.execute(uri: path, method: .get)
                #expect(refused.status.code == 400, "\(path)")
            }
            #expect(await stack.handlers.seen.isEmpty)
        }
    }

    @Test func freeRoutesPassThroughWithTheirCorrelationId() async throws {
        try await MiddlewareStack.with(unmatched: "pass") { stack, client in
            let health = try await client.execute(uri: "/health", method: .get)
            #expect(health.status.code == 200)
            #expect(health.text == "ok")
            let seen = try #require(await stack.handlers.last?.tollgate)
            #expect(seen.correlationId == health.correlationId)
            #expect(seen.payer == nil)
            #expect(!seen.isCharged)
            // Not in the configuration: `unmatched: pass` lets the application serve it free.
            let about = try await client.execute(uri: "/about", method: .get)
            #expect(about.status.code == 200)
            #expect(await stack.handlers.last?.tollgate?.clientId == "anonymous")
            // Nothing behind the middleware: the router's own 404, through the journey.
            let nowhere = try await client.execute(uri: "/nowhere", method: .get)
            #expect(nowhere.status.code == 404)
            #expect(try await stack.facilitator.ledger.transferCount() == 0)
        }
    }

    /// The discovery manifest comes through the middleware as through `tollgate serve`: the application has no route
    /// for it, the gateway answers it (with `unmatched` pass or deny alike), and it lists what an anonymous caller may buy.
    @Test(arguments: ["pass", "deny"]) func theDiscoveryManifestIsServedByTheMiddleware(unmatched: String) async throws {
        try await MiddlewareStack.with(unmatched: unmatched) { stack, client in
            let manifest = try await client.execute(uri: "/.well-known/x402", method: .get)
            #expect(manifest.status.code == 200)
            #expect(manifest.headers[.contentType] == "application/json")
            let listed = try #require(JSONValue.parse(Array(manifest.text.utf8)))
            let ids = Set(listed["items"]?.array?.compactMap { $0["id"]?.string } ?? [])
            #expect(ids == ["quotes", "broken", "uploads"])
            // With the analyst's key, its scoped route too; never the free one.
            let scoped = try await client.execute(uri: "/.well-known/x402", method: .get, headers: [.init("X-Api-Key")!: "tg_demo_reports_key"])
            let scopedIds = Set(JSONValue.parse(Array(scoped.text.utf8))?["items"]?.array?.compactMap { $0["id"]?.string } ?? [])
            #expect(scopedIds.contains("reports") && !scopedIds.contains("health"))
            #expect(await stack.handlers.seen.isEmpty)
        }
    }

    @Test func unmatchedDenyKeepsUnknownRoutesClosed() async throws {
        try await MiddlewareStack.with(unmatched: "deny") { stack, client in
            let about = try await client.execute(uri: "/about", method: .get)
            #expect(about.status.code == 404)
            #expect(about.text.contains("not_found"))
            #expect(try await client.execute(uri: "/health", method: .get).status.code == 200)
            #expect(await stack.handlers.runs("/about") == 0)
        }
    }

    @Test func theClientAddressIsThePeerUnlessATrustedProxyNamesIt() async throws {
        try await MiddlewareStack.with(setup: .live) { stack, client in
            let spoofed = try await client.execute(uri: "/health", method: .get, headers: [HTTPField.Name("X-Forwarded-For")!: "6.6.6.6"])
            #expect(spoofed.status.code == 200)
            let seen = try #require(await stack.handlers.last)
            #expect(seen.tollgate?.clientAddress == "127.0.0.1")
            #expect(seen.headers[HTTPField.Name("X-Forwarded-For")!] == "127.0.0.1")
            // The host the client asked for, which the HTTP server hands over apart from the fields.
            let forwardedHost = seen.headers[HTTPField.Name("X-Forwarded-Host")!] ?? ""
            #expect(forwardedHost.hasPrefix("127.0.0.1") || forwardedHost.hasPrefix("localhost"), "\(forwardedHost)")
            // A second Host (the client's own, then this one): which one a backend reads is anyone's guess, so refused.
            let before = await stack.handlers.runs("/health")
            let twoHosts = try await client.execute(uri: "/health", method: .get, headers: [HTTPField.Name("Host")!: "api.example:8443"])
            #expect(twoHosts.status.code == 400)
            #expect(twoHosts.text.contains("several_hosts"))
            #expect(await stack.handlers.runs("/health") == before)
        }
        try await MiddlewareStack.with(trustedProxies: #"["127.0.0.1"]"#, setup: .live) { stack, client in
            _ = try await client.execute(uri: "/health", method: .get, headers: [HTTPField.Name("X-Forwarded-For")!: "6.6.6.6"])
            #expect(await stack.handlers.last?.tollgate?.clientAddress == "6.6.6.6")
        }
    }

    @Test func aSettledAnswerThatCannotBeWrittenIsRecordedAsUndelivered() async throws {
        try await MiddlewareStack.with { stack, _ in
            // Any context will do, one without a remote address included.
            let send = stack.sendBare
            let offer = try await send([:])
            #expect(offer.status.code == 402)
            let header = try #require(offer.headers[.paymentRequiredField])
            let terms = try #require(HeaderCodec.decode(X402.PaymentRequired.self, header: header))
            let payer = try #require(ExactEVMPayer(privateKey: Secp256k1.randomPrivateKey()))
            let proof = HeaderCodec.encode(try payer.pay(terms, now: Int64(Date().timeIntervalSince1970)))
            let paid = try await send([.paymentSignatureField: proof])
            #expect(paid.status.code == 200)
            let correlationId = try #require(paid.headers[.tollgateCorrelationId])
            await #expect(throws: BrokenConnection.self) { try await paid.body.write(BrokenConnection()) }
            #expect(try await stack.facilitator.ledger.transferCount() == 1)
            let refunds = try await stack.store.refunds(state: nil, correlationId: correlationId, limit: 5)
            #expect(refunds.count == 1)
            let events = try await stack.store.events(correlationId: correlationId)
            #expect(events.contains { $0.event.stage == .respond && $0.event.reason == "connection_failed" })

            // A client gone before the head could be written: Hummingbird never asks for the body, so no write fails.
            // The answer released unwritten is recorded all the same.
            let secondHeader = try #require(try await send([:]).headers[.paymentRequiredField])
            let second = try #require(HeaderCodec.decode(X402.PaymentRequired.self, header: secondHeader))
            let unwritten = try await send([.paymentSignatureField: HeaderCodec.encode(try payer.pay(second, now: Int64(Date().timeIntervalSince1970)))])
                .headers[.tollgateCorrelationId]
            let dropped = try #require(unwritten)
            var recorded: [Refund] = []
            for _ in 0..<500 {
                recorded = try await stack.store.refunds(state: nil, correlationId: dropped, limit: 5)
                if !recorded.isEmpty { break }
                try await Task.sleep(for: .milliseconds(20))
            }
            #expect(recorded.count == 1)
            #expect(try await stack.facilitator.ledger.transferCount() == 2)
        }
    }

    /// Hummingbird's generated `HEAD` endpoints run the `GET` and drop its body: a paid `HEAD` answered so was
    /// delivered (head and receipt), and is never taken for an answer that was not. A `GET` released unwritten after
    /// it shows that a dropped answer would have been seen.
    @Test func aPaidHEADWhoseBodyIsDroppedIsNotTakenForUndelivered() async throws {
        try await MiddlewareStack.with { stack, _ in
            let middleware = TollgateMiddleware<BareContext>(assembly: stack.assembly)
            @Sendable func send(_ method: HTTPRequest.Method, _ fields: HTTPFields) async throws -> Response {
                let request = Request(head: HTTPRequest(method: method, scheme: "http", authority: "localhost", path: "/quotes/ACME", headerFields: fields),
                                      body: RequestBody(buffer: ByteBuffer()))
                return try await middleware.handle(request, context: BareContext(source: .init(logger: Listener.quiet))) { _, _ in
                    Response(status: .ok, body: .init(byteBuffer: ByteBuffer(string: "quote")))
                }
            }
            @Sendable func pay(_ method: HTTPRequest.Method) async throws -> String {
                let header = try #require(try await send(method, [:]).headers[.paymentRequiredField])
                let terms = try #require(HeaderCodec.decode(X402.PaymentRequired.self, header: header))
                let payer = try #require(ExactEVMPayer(privateKey: Secp256k1.randomPrivateKey()))
                let paid = try await send(method, [.paymentSignatureField: HeaderCodec.encode(try payer.pay(terms, now: Int64(Date().timeIntervalSince1970)))])
                #expect(paid.status.code == 200)
                return try #require(paid.headers[.tollgateCorrelationId])
            }
            let head = try await pay(.head)
            let get = try await pay(.get)
            var refunded: [Refund] = []
            for _ in 0..<500 {
                refunded = try await stack.store.refunds(state: nil, correlationId: nil, limit: 10)
                if !refunded.isEmpty { break }
                try await Task.sleep(for: .milliseconds(20))
            }
            #expect(refunded.map(\.correlationId) == [get])
            #expect(!refunded.contains { $0.correlationId == head })
        }
    }
}

/// A context of the application's own, without a remote address.
struct BareContext: TollgateRequestContextProtocol {
    struct Source: RequestContextSource {
        let logger: Logger
    }

    var coreContext: CoreRequestContextStorage
    var tollgate: TollgatePaidRequest?

    init(source: Source) {
        coreContext = .init(source: source)
    }
}

/// A connection that breaks as soon as anything is written.
struct BrokenConnection: ResponseBodyWriter, Error {
    func write(_ buffer: ByteBuffer) async throws { throw self }
    func finish(_ trailingHeaders: HTTPFields?) async throws { throw self }
}
