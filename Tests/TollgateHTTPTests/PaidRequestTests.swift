import Foundation
import Testing
import TollgateCore
import TollgateDevFacilitator
import TollgateSQLite
import TollgateX402

/// The whole paid request over real sockets: sample upstream, development facilitator, gateway.
@Suite struct PaidRequestTests {
    @Test func paysOnceThenRefusesTheReplay() async throws {
        let (facilitator, router) = try LiveStack.devFacilitator()
        try await LiveStack.with(facilitator: router) { stack in
            let url = stack.gatewayURL + "/datasets/prices"
            let first = try await Exchange.get(url)
            #expect(first.status == 402)
            #expect(first.headers["cache-control"] == "no-store")
            let terms = try #require(first.terms)
            #expect(terms.error == "Payment required")
            #expect(terms.resource.url == "http://127.0.0.1:8402/datasets/prices")

            let payer = try #require(ExactEVMPayer(privateKey: Secp256k1.randomPrivateKey()))
            let proof = HeaderCodec.encode(try payer.pay(terms, now: Int64(Date().timeIntervalSince1970)))
            let paid = try await Exchange.get(url, [("PAYMENT-SIGNATURE", proof)])
            #expect(paid.status == 200)
            #expect(paid.headers["cache-control"] == "private")
            let receipt = try #require(paid.receipt)
            #expect(receipt.success)
            #expect(paid.correlationId == first.correlationId)
            // The backend accepted the gateway's signature and saw the contract, not the proof.
            #expect(paid.body.contains(#""payer":"\#(payer.address.checksummed)""#))
            #expect(paid.body.contains(#""client":"anonymous""#))
            // Post-payment permission: the private field is gone for a client without read:private.
            #expect(paid.body.contains("ACME"))
            #expect(!paid.body.contains(#""trader_id":"#))

            let replay = try await Exchange.get(url, [("PAYMENT-SIGNATURE", proof)])
            #expect(replay.status == 402)
            #expect(replay.terms?.error == "invalid_exact_evm_nonce_already_used")
            #expect(try await facilitator.ledger.transferCount() == 1)

            let payments = try await stack.store.payments(correlationId: try #require(first.correlationId))
            #expect(payments.map(\.transaction) == [receipt.transaction])
            #expect(payments.first?.amount == "10000")
        }
    }

    /// One payer, one spelling: a proof whose `from` is in lowercase and whose value has leading zeros (the same
    /// authorization, signed as usual) reaches the upstream with the EIP-55 payer and the ledger with the offer's amount.
    @Test func anotherSpellingOfThePayerAndAmountIsRecordedInOneForm() async throws {
        let (_, router) = try LiveStack.devFacilitator()
        try await LiveStack.with(facilitator: router) { stack in
            let url = stack.gatewayURL + "/datasets/prices"
            let first = try await Exchange.get(url)
            let terms = try #require(first.terms)
            let payer = try #require(ExactEVMPayer(privateKey: Secp256k1.randomPrivateKey()))
            var payload = try payer.pay(terms, now: Int64(Date().timeIntervalSince1970))
            payload.payload.authorization.from = payload.payload.authorization.from.lowercased()
            payload.payload.authorization.value = "000" + payload.payload.authorization.value
            let paid = try await Exchange.get(url, [("PAYMENT-SIGNATURE", HeaderCodec.encode(payload))])
            #expect(paid.status == 200, "\(paid.body)")
            #expect(paid.body.contains(#""payer":"\#(payer.address.checksummed)""#), "\(paid.body)")
            let payments = try await stack.store.payments(correlationId: try #require(first.correlationId))
            #expect(payments.map(\.amount) == ["10000"])
        }
    }

    @Test func anIdentifiedClientRetryingItsProofGetsTheStoredResponse() async throws {
        let (facilitator, router) = try LiveStack.devFacilitator()
        try await LiveStack.with(facilitator: router) { stack in
            let url = stack.gatewayURL + "/reports/daily"
            let key = ("X-Api-Key", "tg_demo_reports_key")
            let terms = try #require(try await Exchange.get(url, [key]).terms)
            let payer = try #require(ExactEVMPayer(privateKey: Secp256k1.randomPrivateKey()))
            let proof = HeaderCodec.encode(try payer.pay(terms, now: Int64(Date().timeIntervalSince1970)))
            let paid = try await Exchange.get(url, [key, ("PAYMENT-SIGNATURE", proof)])
            #expect(paid.status == 200)
            let retry = try await Exchange.get(url, [key, ("PAYMENT-SIGNATURE", proof)])
            #expect(retry.status == 200)
            #expect(retry.body == paid.body)
            #expect(retry.receipt?.transaction == paid.receipt?.transaction)
            #expect(try await facilitator.ledger.transferCount() == 1)
        }
    }

    @Test func authorizationComesBeforeThePrice() async throws {
        let (_, router) = try LiveStack.devFacilitator()
        try await LiveStack.with(facilitator: router) { stack in
            let anonymous = try await Exchange.get(stack.gatewayURL + "/reports/daily")
            #expect(anonymous.status == 401)
            #expect(anonymous.headers["payment-required"] == nil)
            let unknown = try await Exchange.get(stack.gatewayURL + "/reports/daily", [("X-Api-Key", "not-a-key")])
            #expect(unknown.status == 401)
            let analyst = try await Exchange.get(stack.gatewayURL + "/reports/daily", [("X-Api-Key", "tg_demo_reports_key")])
            #expect(analyst.status == 402)
            #expect(analyst.terms != nil)
            let free = try await Exchange.get(stack.gatewayURL + "/health")
            #expect(free.status == 200)
            let unrouted = try await Exchange.get(stack.gatewayURL + "/admin")
            #expect(unrouted.status == 404)
        }
    }

    @Test func anUpstreamErrorIsNotSettledAndTheProofStaysUsable() async throws {
        let (facilitator, router) = try LiveStack.devFacilitator()
        try await LiveStack.with(facilitator: router) { stack in
            let url = stack.gatewayURL + "/datasets/broken"
            let terms = try #require(try await Exchange.get(url).terms)
            let payer = try #require(ExactEVMPayer(privateKey: Secp256k1.randomPrivateKey()))
            let proof = HeaderCodec.encode(try payer.pay(terms, now: Int64(Date().timeIntervalSince1970)))
            let failed = try await Exchange.get(url, [("PAYMENT-SIGNATURE", proof)])
            #expect(failed.status == 500)
            #expect(failed.headers["payment-response"] == nil)
            let again = try await Exchange.get(url, [("PAYMENT-SIGNATURE", proof)])
            #expect(again.status == 500)
            #expect(try await facilitator.ledger.transferCount() == 0)
            let events = try await stack.store.events(correlationId: try #require(failed.correlationId))
            #expect(events.contains { $0.event.stage == .respond && $0.event.reason == "upstream_refused" })
            #expect(!events.contains { $0.event.stage == .settle })
        }
    }
}
