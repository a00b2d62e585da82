import Foundation
import Logging
import TollgateCore
import TollgateX402

/// A facilitator for development and tests: verifies exactly like the gateway (EIP-712, secp256k1,
/// amount, payee, time window) plus balance and nonce state, and settles into a local ledger.
/// It only ever serves test networks (`KnownNetwork.testNets`); anything else (main nets) is refused. It speaks x402 v2
/// and v1 (v1 kinds, requests and answers name networks the v1 way: `base-sepolia`).
public struct DevFacilitator: Facilitator {
    public let networks: [String]
    public let ledger: DevLedger
    let clock: any GatewayClock
    /// A payment is verified, then settled: its signer is recovered once.
    let signers = RecoveryMemo()
    public var name: String { "dev-facilitator" }

    /// Throws `TollgateError` `.notATestNetwork` (the network in `details["network"]`) for a network that is not a test net.
    public init(networks: [String], ledger: DevLedger, clock: any GatewayClock = SystemClock()) throws(TollgateError) {
        for network in networks where !KnownNetwork.isTestNetwork(network) {
            throw TollgateError(.notATestNetwork, "\(network) is not a test network: the development facilitator refuses it",
                                details: ["network": network])
        }
        self.networks = networks
        self.ledger = ledger
        self.clock = clock
    }

    public func supported(logger: Logger) async throws -> X402.SupportedResponse {
        let v2 = networks.map { X402.SupportedKind(x402Version: X402.version, scheme: "exact", network: $0) }
        // v1 names networks; a network v1 never named has no v1 kind (v1 clients cannot pay on it).
        let v1 = networks.filter { X402V1.Networks.name($0) != $0 }
            .map { X402.SupportedKind(x402Version: X402V1.version, scheme: "exact", network: X402V1.Networks.name($0)) }
        return X402.SupportedResponse(kinds: v2 + v1, extensions: [], signers: ["eip155:*": []])
    }

    /// Checks the payment against the ledger as it stands, settlements in flight included (it reads no file).
    public func verify(_ request: X402.FacilitatorRequest, logger: Logger) async throws -> X402.VerifyResponse {
        try await verify(request.contents(), logger: logger)
    }

    /// `verify` of a body already parsed (nil: not an exact EVM payment request).
    public func verify(_ contents: X402.FacilitatorRequest.Contents?, logger: Logger) async throws -> X402.VerifyResponse {
        switch check(contents) {
        case .failure(let refusal):
            return .init(isValid: false, invalidReason: refusal.reason.rawValue, invalidMessage: refusal.detail, payer: refusal.payer)
        case .success(let transfer):
            return .init(isValid: true, payer: transfer.payer)
        }
    }

    public func settle(_ request: X402.FacilitatorRequest, logger: Logger) async throws -> X402.SettleResponse {
        try await settle(request.contents(), logger: logger)
    }

    /// `settle` of a body already parsed (nil: not an exact EVM payment request).
    public func settle(_ contents: X402.FacilitatorRequest.Contents?, logger: Logger) async throws -> X402.SettleResponse {
        let caip2 = contents?.paymentRequirements.network ?? ""
        // Answered in the request's version: a v1 request gets its network's v1 name back.
        let network = contents?.x402Version == X402V1.version ? X402V1.Networks.name(caip2) : caip2
        // Checked once, by the ledger's settlement itself (under its lock, with the settlements in flight).
        switch transfer(contents) {
        case .failure(let refusal):
            return .init(success: false, errorReason: refusal.reason.rawValue, errorMessage: refusal.detail, payer: refusal.payer,
                         transaction: "", network: network)
        case .success(let transfer):
            do {
                switch try await ledger.settle(transfer) {
                case .success(let tx):
                    return .init(success: true, payer: transfer.payer, transaction: tx, network: network, amount: String(transfer.amount))
                case .failure(let failure):
                    let refusal = Refusal(refused: failure.check, payer: transfer.payer)
                    return .init(success: false, errorReason: refusal.reason.rawValue, errorMessage: refusal.detail, payer: transfer.payer,
                                 transaction: "", network: network)
                }
            } catch {
                // The ledger's transaction rolled back, but the caller cannot know that from a refusal it would
                // treat as final: an error is what it is, and the gateway holds the payment as unknown.
                logger.error("ledger error while settling", metadata: ["tollgate.error": "\(error)"])
                throw error
            }
        }
    }

    struct Refusal: Error {
        let reason: Reason
        let detail: String
        let payer: String?
    }

    /// The payment checked against the requirements and the ledger as it is now (what `/verify` answers).
    private func check(_ contents: X402.FacilitatorRequest.Contents?) -> Result<DevLedger.Transfer, Refusal> {
        let transfer: DevLedger.Transfer
        switch self.transfer(contents) {
        case .failure(let refusal): return .failure(refusal)
        case .success(let checked): transfer = checked
        }
        let check = ledger.check(transfer)
        return check == .ok ? .success(transfer) : .failure(Refusal(refused: check, payer: transfer.payer))
    }

    /// The transfer a payment asks for, checked against its requirements (signature, amount, payee, time window), not
    /// against the ledger.
    private func transfer(_ contents: X402.FacilitatorRequest.Contents?) -> Result<DevLedger.Transfer, Refusal> {
        guard let contents else {
            return .failure(Refusal(reason: .invalidPayload, detail: "not an exact EVM payment request", payer: nil))
        }
        let requirements = contents.paymentRequirements
        let payload = contents.paymentPayload
        let authorization = payload.payload.authorization
        let payer = authorization.from
        guard payload.x402Version == contents.x402Version, [X402.version, X402V1.version].contains(contents.x402Version) else {
            return .failure(Refusal(reason: .invalidVersion, detail: "x402 v2 or v1, the same in the request and its payload", payer: payer))
        }
        guard networks.contains(requirements.network), KnownNetwork.isTestNetwork(requirements.network) else {
            return .failure(Refusal(reason: .invalidNetwork, detail: "\(requirements.network) is not served here", payer: payer))
        }
        guard payload.accepted.network == requirements.network, payload.accepted.amount == requirements.amount,
              payload.accepted.asset.lowercased() == requirements.asset.lowercased(),
              payload.accepted.payTo.lowercased() == requirements.payTo.lowercased()
        else {
            return .failure(Refusal(reason: Reason("invalid_exact_evm_payload_accepted_mismatch"), detail: "accepted differs from the requirements", payer: payer))
        }
        guard let chainId = ExactEVMVerifier.chainId(requirements.network), let asset = EthereumAddress(requirements.asset),
              let name = requirements.extra?["name"]?.string, let version = requirements.extra?["version"]?.string,
              let amount = TokenAmount(atomic: requirements.amount)
        else {
            return .failure(Refusal(reason: Reason("invalid_exact_evm_payload_missing_eip712_domain"), detail: "requirements lack the EIP-712 domain", payer: payer))
        }
        let expected = ExactEVMVerifier.Expected(
            network: requirements.network, payTo: requirements.payTo, amount: amount,
            domain: EIP712Domain(name: name, version: version, chainId: chainId, verifyingContract: asset))
        if case .invalid(let reason, let detail) = ExactEVMVerifier.verify(
            scheme: requirements.scheme, network: payload.accepted.network, authorization: authorization,
            signature: payload.payload.signature, expected: expected, now: clock.nowSeconds, memo: signers) {
            return .failure(Refusal(reason: reason, detail: detail, payer: payer))
        }
        guard let value = Int64(authorization.value) else {
            return .failure(Refusal(reason: Reason("insufficient_funds"), detail: "amount above the test balance range", payer: payer))
        }
        // The ledger's key comes from decoded values, so no spelling of the nonce or payer settles twice.
        guard let from = EthereumAddress(payer), let to = EthereumAddress(authorization.to), let nonce = HexString.decodeAllowingPrefix(authorization.nonce) else {
            return .failure(Refusal(reason: .invalidPayload, detail: "the authorization cannot be read", payer: payer))
        }
        return .success(DevLedger.Transfer(network: requirements.network, asset: asset.lowercased, payer: from.lowercased,
                                           payee: to.lowercased, amount: value, nonce: HexString.prefixed(nonce)))
    }
}

extension DevFacilitator.Refusal {
    /// Why the ledger refused a transfer (`check` is never `.ok` here).
    init(refused check: DevLedger.Check, payer: String?) {
        switch check {
        case .nonceUsed, .ok: self.init(reason: .nonceAlreadyUsed, detail: "the authorization was already used", payer: payer)
        case .insufficientFunds: self.init(reason: Reason("insufficient_funds"), detail: "balance too low", payer: payer)
        case .outOfRange:
            self.init(reason: Reason("invalid_transaction_state"), detail: "the payee's balance would leave the test chain's range", payer: payer)
        }
    }
}

extension TollgateError.Code {
    /// The development facilitator was asked to serve a network that is not a test net.
    public static let notATestNetwork = Self("not_a_test_network")
}
