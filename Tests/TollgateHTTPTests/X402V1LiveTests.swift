import Foundation
import Testing
import TollgateCore
import TollgateDevFacilitator
import TollgateX402

/// x402 v1 clients on the proxy door: terms read from the 402's body, `X-PAYMENT` verified like a v2 proof, one claim
/// per authorization whatever version spells it, the receipt in `X-PAYMENT-RESPONSE`.
@Suite struct X402V1LiveTests {
    /// The v1 `accepts` of a 402's body, brought to the v2 shape the payer signs from.
    static func v1Offer(_ exchange: Exchange) throws -> (X402.PaymentRequirements, v1Network: String) {
        let body = try #require(JSONValue.parse(Array(exchange.body.utf8)))
        #expect(body["x402Version"] == .integer(1))
        let first = try #require(body["accepts"]?.array?.first)
        let v1 = try JSONDecoder().decode(X402V1.PaymentRequirements.self, from: Data(JSONWriter.bytes(first)))
        return (try #require(v1.v2), v1.network)
    }

    /// A v1 `X-PAYMENT` for `offer`, naming the network as `network`.
    static func xPayment(_ payer: ExactEVMPayer, _ offer: X402.PaymentRequirements, network: String, now: Int64 = Self.now,
                         amount: String? = nil) throws -> String {
        var signed = offer
        if let amount { signed.amount = amount }
        let v2 = try payer.pay(signed, resource: nil, now: now)
        return HeaderCodec.base64(JSONWriter.bytes(X402V1.PaymentPayload(scheme: "exact", network: network, payload: v2.payload)))
    }

    static var now: Int64 { Int64(Date().timeIntervalSince1970) }

    static func reason(_ exchange: Exchange) -> String? {
        JSONValue.parse(Array(exchange.body.utf8))?["reason"]?.string
    }

    @Test func aV1ClientPaysFromTheBodyAndGetsAV1Receipt() async throws {
        let (facilitator, router) = try LiveStack.devFacilitator()
        try await LiveStack.with(facilitator: router) { stack in
            let url = stack.gatewayURL + "/datasets/prices"
            let first = try await Exchange.get(url)
            #expect(first.status == 402)
            #expect(first.terms != nil)
            let (offer, network) = try Self.v1Offer(first)
            #expect(network == "base-sepolia")
            let payer = try #require(ExactEVMPayer(privateKey: Secp256k1.randomPrivateKey()))
            let paid = try await Exchange.get(url, [("X-PAYMENT", try Self.xPayment(payer, offer, network: network))])
            #expect(paid.status == 200)
            #expect(paid.headers["payment-response"] == nil)
            let receipt = try #require(paid.headers["x-payment-response"].flatMap { HeaderCodec.decode(X402.SettleResponse.self, header: $0) })
            #expect(receipt.success && receipt.network == "base-sepolia" && receipt.transaction.hasPrefix("0x"))
            #expect(paid.body.contains("\"dataset\":\"prices\""))
            #expect(try await facilitator.ledger.transferCount() == 1)

            // Some v1 clients name the network in CAIP-2: the same checks, the same kind of receipt.
            let caip2 = try await Exchange.get(url, [("X-PAYMENT", try Self.xPayment(payer, offer, network: "eip155:84532"))])
            #expect(caip2.status == 200)
            #expect(try await facilitator.ledger.transferCount() == 2)
        }
    }

    /// v1 echoes no offer: the authorization's own `validBefore`, chosen by the client, stands in for the offer's expiry.
    /// One valid for millions of years (or as long as an `Int64` goes) is paid and served like any other, never a crash of
    /// the gateway (the payment's spend period was once computed from it and overflowed), and the gateway serves on.
    @Test func aV1AuthorizationValidForMillionsOfYearsIsServedLikeAnyOther() async throws {
        let (facilitator, router) = try LiveStack.devFacilitator()
        try await LiveStack.with(facilitator: router) { stack in
            let url = stack.gatewayURL + "/datasets/prices"
            let (offer, network) = try Self.v1Offer(try await Exchange.get(url))
            let payer = try #require(ExactEVMPayer(privateKey: Secp256k1.randomPrivateKey()))
            for validBefore: Int64 in [9_300_000_000_000_000, Int64.max] {
                let payload = try payer.pay(offer, resource: nil, now: Self.now, validBefore: validBefore)
                let header = HeaderCodec.base64(JSONWriter.bytes(X402V1.PaymentPayload(scheme: "exact", network: network, payload: payload.payload)))
                let paid = try await Exchange.get(url, [("X-PAYMENT", header)])
                #expect(paid.status == 200, "validBefore \(validBefore): \(paid.status) \(paid.body)")
                // The same authorization again is a replay of a delivered purchase, not a second payment.
                let again = try await Exchange.get(url, [("X-PAYMENT", header)])
                #expect(again.status != 200 || again.body == paid.body)
            }
            #expect(try await facilitator.ledger.transferCount() == 2)
            #expect(try await Exchange.get(url).status == 402)
        }
    }

    /// One authorization is one claim: sent as v1 then re-wrapped as v2 (or the other way), the second is a replay.
    @Test func oneAuthorizationAcrossVersionsPaysOnce() async throws {
        let (facilitator, router) = try LiveStack.devFacilitator()
        try await LiveStack.with(facilitator: router) { stack in
            let url = stack.gatewayURL + "/datasets/prices"
            let payer = try #require(ExactEVMPayer(privateKey: Secp256k1.randomPrivateKey()))

            // v1 first.
            let first = try await Exchange.get(url)
            let v2Offer = try #require(first.terms?.accepts.first)
            let v2Payload = try payer.pay(v2Offer, resource: first.terms?.resource, now: Self.now)
            let asV1 = HeaderCodec.base64(JSONWriter.bytes(X402V1.PaymentPayload(scheme: "exact", network: "base-sepolia", payload: v2Payload.payload)))
            #expect(try await Exchange.get(url, [("X-PAYMENT", asV1)]).status == 200)
            let asV2 = try await Exchange.get(url, [("PAYMENT-SIGNATURE", HeaderCodec.encode(v2Payload))])
            #expect(asV2.status == 402)
            #expect(Self.reason(asV2) == "invalid_exact_evm_nonce_already_used")
            #expect(try await facilitator.ledger.transferCount() == 1)

            // v2 first.
            let fresh = try await Exchange.get(url)
            let second = try payer.pay(try #require(fresh.terms?.accepts.first), resource: fresh.terms?.resource, now: Self.now)
            #expect(try await Exchange.get(url, [("PAYMENT-SIGNATURE", HeaderCodec.encode(second))]).status == 200)
            let laterV1 = HeaderCodec.base64(JSONWriter.bytes(X402V1.PaymentPayload(scheme: "exact", network: "eip155:84532", payload: second.payload)))
            let refused = try await Exchange.get(url, [("X-PAYMENT", laterV1)])
            #expect(refused.status == 402)
            #expect(Self.reason(refused) == "invalid_exact_evm_nonce_already_used")
            #expect(try await facilitator.ledger.transferCount() == 2)
        }
    }

    /// v1 binds nothing but the request: the same X-PAYMENT elsewhere is a replay, and an identified client
    /// sending it again for the same request gets its stored answer (no second settlement).
    @Test func aV1ProofIsBoundToItsRequestAndClient() async throws {
        let (facilitator, router) = try LiveStack.devFacilitator()
        try await LiveStack.with(facilitator: router) { stack in
            let payer = try #require(ExactEVMPayer(privateKey: Secp256k1.randomPrivateKey()))
            let key = [("X-Api-Key", "tg_demo_reports_key")]
            let reports = stack.gatewayURL + "/reports/daily"
            let (offer, network) = try Self.v1Offer(try await Exchange.get(reports, key))
            let header = try Self.xPayment(payer, offer, network: network)
            let paid = try await Exchange.get(reports, key + [("X-PAYMENT", header)])
            #expect(paid.status == 200)
            let again = try await Exchange.get(reports, key + [("X-PAYMENT", header)])
            #expect(again.status == 200)
            #expect(again.body == paid.body)
            #expect(again.correlationId == paid.correlationId)

            // Another query of the same route, and the same proof without the client's key: replays.
            let otherQuery = try await Exchange.get(reports + "?day=2", key + [("X-PAYMENT", header)])
            #expect(otherQuery.status == 402)
            #expect(Self.reason(otherQuery) == "invalid_exact_evm_nonce_already_used")
            let anonymous = try await Exchange.get(stack.gatewayURL + "/datasets/prices", [("X-PAYMENT", header)])
            #expect(anonymous.status == 402)
            #expect(try await facilitator.ledger.transferCount() == 1)
        }
    }

    /// What v1 cannot bind is checked against the request and the current price: a signed amount other than this
    /// request's price, another payee or an expired authorization are refused before any store write or facilitator call.
    @Test func tamperedAndMalformedV1ProofsAreRefused() async throws {
        let (facilitator, router) = try LiveStack.devFacilitator()
        try await LiveStack.with(facilitator: router, extraTop: "limits: {invalid: off}") { stack in
            let url = stack.gatewayURL + "/datasets/prices"
            let payer = try #require(ExactEVMPayer(privateKey: Secp256k1.randomPrivateKey()))
            let (offer, network) = try Self.v1Offer(try await Exchange.get(url))
            var otherPayee = offer
            otherPayee.payTo = "0x000000000000000000000000000000000000dEaD"
            let cases: [(String, String)] = [
                (try Self.xPayment(payer, offer, network: network, amount: "1"), "invalid_exact_evm_payload_authorization_value_mismatch"),
                (try Self.xPayment(payer, otherPayee, network: network), "invalid_exact_evm_payload_recipient_mismatch"),
                (try Self.xPayment(payer, offer, network: network, now: Self.now - 3600), "invalid_exact_evm_payload_authorization_valid_before"),
                (try Self.xPayment(payer, offer, network: "base"), "offer_terms_mismatch"),
                (try Self.xPayment(payer, offer, network: "narnia"), "invalid_network"),
                (HeaderCodec.base64(Array(#"{"x402Version":2,"scheme":"exact","network":"base-sepolia","payload":{}}"#.utf8)), "invalid_x402_version"),
                (HeaderCodec.base64(Array(#"{"x402Version":1,"x402Version":1,"scheme":"exact"}"#.utf8)), "invalid_payload"),
                ("not base64!", "invalid_payload"),
                (String(repeating: "A", count: 17_000), "payment_header_too_large"),
            ]
            for (header, reason) in cases {
                let refused = try await Exchange.get(url, [("X-PAYMENT", header)])
                #expect(refused.status == 402, "\(reason)")
                #expect(Self.reason(refused) == reason)
            }
            // A flipped signature recovers to someone else.
            let valid = try Self.xPayment(payer, offer, network: network)
            var payload = try JSONDecoder().decode(X402V1.PaymentPayload.self, from: Data(try #require(HeaderCodec.base64Bytes(valid))))
            payload.payload.signature = String(payload.payload.signature.dropLast(3)) + "000"
            let forged = try await Exchange.get(url, [("X-PAYMENT", HeaderCodec.base64(JSONWriter.bytes(payload)))])
            #expect(Self.reason(forged) == "invalid_exact_evm_payload_signature")
            #expect(try await facilitator.ledger.transferCount() == 0)
        }
    }

    /// A flood of forged v1 proofs meets the invalid-proof budget before any of it is decoded or verified.
    @Test func aFloodOfInvalidV1ProofsIsRateLimited() async throws {
        let (facilitator, router) = try LiveStack.devFacilitator()
        // A budget that does not refill during the test, however slow the machine.
        try await LiveStack.with(facilitator: router, extraTop: "limits: {invalid: {rate_per_second: 0.001, burst: 5}}") { stack in
            let url = stack.gatewayURL + "/datasets/prices"
            let payer = try #require(ExactEVMPayer(privateKey: Secp256k1.randomPrivateKey()))
            let (offer, network) = try Self.v1Offer(try await Exchange.get(url))
            var statuses: [Int] = []
            for _ in 0..<12 {
                statuses.append(try await Exchange.get(url, [("X-PAYMENT", try Self.xPayment(payer, offer, network: network, amount: "1"))]).status)
            }
            #expect(statuses.prefix(5).allSatisfy { $0 == 402 })
            #expect(statuses.suffix(5).allSatisfy { $0 == 429 })
            #expect(try await facilitator.ledger.transferCount() == 0)
        }
    }

    /// A v1 proof is judged against the route it arrives at, so a copy sent first where it does not fit (another
    /// price) is refused there without shutting it out of the route it pays.
    @Test func aCopySentToTheWrongRouteFirstDoesNotBlockTheRightOne() async throws {
        let (facilitator, router) = try LiveStack.devFacilitator()
        let premium = "  - {method: GET, path: /health/premium, resource: premium, price: \"0.05\", anonymous: true}"
        try await LiveStack.with(facilitator: router, extraRoutes: premium) { stack in
            let url = stack.gatewayURL + "/datasets/prices"
            let payer = try #require(ExactEVMPayer(privateKey: Secp256k1.randomPrivateKey()))
            let (offer, network) = try Self.v1Offer(try await Exchange.get(url))
            let header = try Self.xPayment(payer, offer, network: network)
            for _ in 0..<2 {
                let wrong = try await Exchange.get(stack.gatewayURL + "/health/premium", [("X-PAYMENT", header)])
                #expect(Self.reason(wrong) == "invalid_exact_evm_payload_authorization_value_mismatch")
            }
            #expect(try await Exchange.get(url, [("X-PAYMENT", header)]).status == 200)
            #expect(try await facilitator.ledger.transferCount() == 1)
        }
    }

    /// Copies of one X-PAYMENT sent together: one delivery, one transfer.
    @Test func concurrentCopiesSettleOnce() async throws {
        let (facilitator, router) = try LiveStack.devFacilitator()
        try await LiveStack.with(facilitator: router) { stack in
            let url = stack.gatewayURL + "/datasets/prices"
            let payer = try #require(ExactEVMPayer(privateKey: Secp256k1.randomPrivateKey()))
            let (offer, network) = try Self.v1Offer(try await Exchange.get(url))
            let header = try Self.xPayment(payer, offer, network: network)
            let statuses = try await withThrowingTaskGroup(of: Int.self) { group in
                for _ in 0..<8 { group.addTask { try await Exchange.get(url, [("X-PAYMENT", header)]).status } }
                return try await group.reduce(into: [Int]()) { $0.append($1) }
            }
            #expect(statuses.filter { $0 == 200 }.count == 1)
            #expect(!statuses.contains(500))
            #expect(try await facilitator.ledger.transferCount() == 1)
        }
    }

    /// v1 can be turned off for one route (its 402 then has no v1 terms) or for the whole gateway.
    @Test func v1CanBeTurnedOffPerRouteAndGatewayWide() async throws {
        let (facilitator, router) = try LiveStack.devFacilitator()
        let v2Only = "  - {method: GET, path: /datasets/history, resource: history, price: \"0.01\", anonymous: true, x402_v1: false}"
        try await LiveStack.with(facilitator: router, extraRoutes: v2Only.replacingOccurrences(of: "/datasets/history", with: "/health/v2")) { stack in
            let payer = try #require(ExactEVMPayer(privateKey: Secp256k1.randomPrivateKey()))
            let (offer, network) = try Self.v1Offer(try await Exchange.get(stack.gatewayURL + "/datasets/prices"))
            let closed = try await Exchange.get(stack.gatewayURL + "/health/v2")
            #expect(closed.status == 402)
            #expect(JSONValue.parse(Array(closed.body.utf8))?["x402Version"] == nil)
            #expect(closed.terms != nil)
            let refused = try await Exchange.get(stack.gatewayURL + "/health/v2", [("X-PAYMENT", try Self.xPayment(payer, offer, network: network))])
            #expect(refused.status == 402)
            #expect(Self.reason(refused) == "invalid_x402_version")
        }
        try await LiveStack.with(facilitator: router, extraTop: "x402: {v1: false}") { stack in
            let url = stack.gatewayURL + "/datasets/prices"
            let first = try await Exchange.get(url)
            #expect(JSONValue.parse(Array(first.body.utf8))?["x402Version"] == nil)
            let offer = try #require(first.terms?.accepts.first)
            let payer = try #require(ExactEVMPayer(privateKey: Secp256k1.randomPrivateKey()))
            let refused = try await Exchange.get(url, [("X-PAYMENT", try Self.xPayment(payer, offer, network: "base-sepolia"))])
            #expect(Self.reason(refused) == "invalid_x402_version")
        }
        #expect(try await facilitator.ledger.transferCount() == 0)
    }
}
