import Foundation
import GRDB
import Logging
import Testing
import TollgateCore
import TollgateDevFacilitator
import TollgateX402

@Suite struct DevFacilitatorTests {
    static let requirements = X402.PaymentRequirements(
        scheme: "exact", network: "eip155:84532", asset: "0x036CbD53842c5426634e7929541eC2318f3dCF7e", amount: "2500",
        payTo: "0x209693Bc6afc0C5328bA36FaF03C514EF312287C", maxTimeoutSeconds: 60, extra: ["name": .string("USDC"), "version": .string("2")])

    @Test(arguments: ["eip155:1", "eip155:8453", "eip155:137", "solana:mainnet"])
    func refusesMainNets(network: String) throws {
        let ledger = try DevLedger(path: FileManager.default.temporaryDirectory.appendingPathComponent("dev-\(UUID().uuidString)/l.sqlite").path)
        #expect(throws: TollgateError(.notATestNetwork, "\(network) is not a test network: the development facilitator refuses it",
                                      details: ["network": network])) { try DevFacilitator(networks: [network], ledger: ledger) }
    }

    /// Every test net of the one list is served; no main net of it is.
    @Test func servesExactlyTheListedTestNets() throws {
        let ledger = try DevLedger(path: FileManager.default.temporaryDirectory.appendingPathComponent("dev-\(UUID().uuidString)/l.sqlite").path)
        #expect(try DevFacilitator(networks: KnownNetwork.testNets.map(\.id), ledger: ledger).networks.count == KnownNetwork.testNets.count)
        for main in KnownNetwork.mainNets {
            #expect(throws: TollgateError.self) { try DevFacilitator(networks: [main.id], ledger: ledger) }
        }
    }

    /// A ledger that cannot be written is an error (a 500 to the gateway, which then holds the payment), never a settled
    /// payment. `/verify` answers from the ledger's state in memory, which the failed settlement leaves as it was.
    @Test func aLedgerErrorFailsClosed() async throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("dev-\(UUID().uuidString)/l.sqlite").path
        let facilitator = try DevFacilitator(networks: ["eip155:84532"], ledger: try DevLedger(path: path))
        let payer = try #require(ExactEVMPayer(privateKey: Secp256k1.randomPrivateKey()))
        let requirements = Self.requirements
        let payload = try payer.pay(requirements, resource: nil, now: Int64(Date().timeIntervalSince1970))
        let request = X402.FacilitatorRequest(payload: payload, requirements: requirements)
        // Someone breaks the ledger under the running facilitator.
        try await DatabaseQueue(path: path).write { db in try db.execute(sql: "DROP TABLE transfer") }

        #expect(try await facilitator.verify(request, logger: Logger(label: "test")).isValid)
        await #expect(throws: (any Error).self) { try await facilitator.settle(request, logger: Logger(label: "test")) }
        await #expect(throws: (any Error).self) { try await facilitator.settle(request, logger: Logger(label: "test")) }
        #expect(try await facilitator.verify(request, logger: Logger(label: "test")).isValid)
    }

    @Test func aNonceSpelledDifferentlyIsTheSameTransfer() async throws {
        let (facilitator, _) = try LiveStack.devFacilitator()
        let payer = try #require(ExactEVMPayer(privateKey: Secp256k1.randomPrivateKey()))
        let requirements = Self.requirements
        var payload = try payer.pay(requirements, resource: nil, now: Int64(Date().timeIntervalSince1970))
        #expect(try await facilitator.settle(.init(payload: payload, requirements: requirements), logger: Logger(label: "test")).success)
        payload.payload.authorization.nonce = "0X" + payload.payload.authorization.nonce.dropFirst(2).uppercased()
        let again = try await facilitator.settle(.init(payload: payload, requirements: requirements), logger: Logger(label: "test"))
        #expect(!again.success)
        #expect(again.errorReason == "invalid_exact_evm_nonce_already_used")
        #expect(try await facilitator.ledger.transferCount() == 1)
    }

    /// The signer recovered by `/verify` is remembered for `/settle`; a settle carrying the verified authorization with
    /// another signature, or another amount under the verified signature, is checked afresh and refused.
    @Test func aSettleIsCheckedAfreshWhateverWasVerified() async throws {
        let (facilitator, _) = try LiveStack.devFacilitator()
        let logger = Logger(label: "test")
        let payer = try #require(ExactEVMPayer(privateKey: Secp256k1.randomPrivateKey()))
        let payload = try payer.pay(Self.requirements, resource: nil, now: Int64(Date().timeIntervalSince1970))
        #expect(try await facilitator.verify(.init(payload: payload, requirements: Self.requirements), logger: logger).isValid)

        var forged = payload
        var signature = try #require(HexString.decodeAllowingPrefix(payload.payload.signature))
        signature[9] ^= 0x01
        forged.payload.signature = HexString.prefixed(signature)
        let refused = try await facilitator.settle(.init(payload: forged, requirements: Self.requirements), logger: logger)
        #expect(!refused.success)
        #expect(refused.errorReason == Reason.signatureInvalid.rawValue)

        var inflated = payload
        inflated.payload.authorization.value = "2501"
        var higher = Self.requirements
        higher.amount = "2501"
        inflated.accepted = higher
        let mismatched = try await facilitator.settle(.init(payload: inflated, requirements: higher), logger: logger)
        #expect(mismatched.errorReason == Reason.signatureInvalid.rawValue)
        #expect(try await facilitator.ledger.transferCount() == 0)

        #expect(try await facilitator.settle(.init(payload: payload, requirements: Self.requirements), logger: logger).success)
        #expect(try await facilitator.ledger.transferCount() == 1)
    }

    /// `/settle` checks the ledger itself, whatever `/verify` said or whether it was called: a payment beyond the payer's
    /// balance, settled without any `/verify` first, is refused, moves nothing and reads as `/verify` would have refused
    /// it; two copies of one payment settled at once move the funds once.
    @Test func aSettleChecksTheLedgerItself() async throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("dev-\(UUID().uuidString)/l.sqlite").path
        let facilitator = try DevFacilitator(networks: ["eip155:84532"], ledger: try DevLedger(path: path, defaultBalance: 4000))
        let logger = Logger(label: "test")
        let payer = try #require(ExactEVMPayer(privateKey: Secp256k1.randomPrivateKey()))
        var large = Self.requirements
        large.amount = "4001"
        let beyond = X402.FacilitatorRequest(payload: try payer.pay(large, resource: nil, now: Int64(Date().timeIntervalSince1970)), requirements: large)
        let refused = try await facilitator.settle(beyond, logger: logger)
        let verdict = try await facilitator.verify(beyond, logger: logger)
        #expect(!refused.success && !verdict.isValid)
        #expect(refused.errorReason == "insufficient_funds" && verdict.invalidReason == "insufficient_funds")
        #expect(refused.errorMessage == verdict.invalidMessage)
        #expect(try await facilitator.ledger.transferCount() == 0)

        let request = X402.FacilitatorRequest(payload: try payer.pay(Self.requirements, resource: nil, now: Int64(Date().timeIntervalSince1970)),
                                              requirements: Self.requirements)
        async let first = facilitator.settle(request, logger: logger)
        async let second = facilitator.settle(request, logger: logger)
        let outcomes = try await [first, second]
        #expect(outcomes.filter(\.success).count == 1)
        #expect(outcomes.first { !$0.success }?.errorReason == "invalid_exact_evm_nonce_already_used")
        #expect(try await facilitator.ledger.transferCount() == 1)
        #expect(try await facilitator.ledger.balance(network: "eip155:84532", asset: Self.requirements.asset, address: payer.address.lowercased) == 1500)
    }

    @Test func settlesOnceAndMovesBalances() async throws {
        let (facilitator, _) = try LiveStack.devFacilitator()
        let payer = try #require(ExactEVMPayer(privateKey: Secp256k1.randomPrivateKey()))
        let requirements = Self.requirements
        let payload = try payer.pay(requirements, resource: nil, now: Int64(Date().timeIntervalSince1970))
        let request = X402.FacilitatorRequest(payload: payload, requirements: requirements)
        let logger = Logger(label: "test")

        #expect(try await facilitator.verify(request, logger: logger).isValid)
        let settled = try await facilitator.settle(request, logger: logger)
        #expect(settled.success)
        #expect(settled.transaction.hasPrefix("0x"))
        let again = try await facilitator.settle(request, logger: logger)
        #expect(!again.success)
        #expect(again.errorReason == "invalid_exact_evm_nonce_already_used")
        let verifyAgain = try await facilitator.verify(request, logger: logger)
        #expect(verifyAgain.invalidReason == "invalid_exact_evm_nonce_already_used")
        let balance = try await facilitator.ledger.balance(network: "eip155:84532", asset: requirements.asset, address: payer.address.lowercased)
        #expect(balance == facilitator.ledger.defaultBalance - 2500)

        var wrongDomain = requirements
        wrongDomain.extra?["name"] = .string("USD Coin")
        let refused = try await facilitator.verify(.init(payload: payload, requirements: wrongDomain), logger: logger)
        #expect(!refused.isValid)
    }
}
