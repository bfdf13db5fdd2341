"""The few Kerberos messages the probe needs (RFC 4120 §5), as asn1crypto structures: the
AS-REQ it sends, and the AS-REP or KRB-ERROR it reads. What a reply carries beyond the fields
the checks read (tickets, encrypted parts, padata) is kept as opaque ASN.1.

Defined here rather than taken from minikerberos, which would install some thirty
attack-tool scripts (kerberoast, asreproast, ...) into every environment that installs this
tool. The tests compare these messages with minikerberos' own, which is a test dependency.
"""

from __future__ import annotations

from asn1crypto import core

AS_REQ_TYPE, AS_REP_TYPE, KRB_ERROR_TYPE = 10, 11, 30
NT_PRINCIPAL, NT_SRV_INST = 1, 2


class KerberosString(core.GeneralString):
    pass


class KerberosTime(core.GeneralizedTime):
    pass


class SequenceOfKerberosString(core.SequenceOf):
    _child_spec = KerberosString


class PrincipalName(core.Sequence):
    _fields = [
        ("name-type", core.Integer, {"explicit": 0}),
        ("name-string", SequenceOfKerberosString, {"explicit": 1}),
    ]


class KDCOptions(core.BitString):
    pass


class SequenceOfEnctype(core.SequenceOf):
    _child_spec = core.Integer


class KdcReqBody(core.Sequence):
    _fields = [
        ("kdc-options", KDCOptions, {"explicit": 0}),
        ("cname", PrincipalName, {"explicit": 1, "optional": True}),
        ("realm", KerberosString, {"explicit": 2}),
        ("sname", PrincipalName, {"explicit": 3, "optional": True}),
        ("from", KerberosTime, {"explicit": 4, "optional": True}),
        ("till", KerberosTime, {"explicit": 5, "optional": True}),
        ("rtime", KerberosTime, {"explicit": 6, "optional": True}),
        ("nonce", core.Integer, {"explicit": 7}),
        ("etype", SequenceOfEnctype, {"explicit": 8}),
        ("addresses", core.Any, {"explicit": 9, "optional": True}),
        ("enc-authorization-data", core.Any, {"explicit": 10, "optional": True}),
        ("additional-tickets", core.Any, {"explicit": 11, "optional": True}),
    ]


class AsReq(core.Sequence):
    explicit = (1, 10)  # [APPLICATION 10]
    _fields = [
        ("pvno", core.Integer, {"explicit": 1}),
        ("msg-type", core.Integer, {"explicit": 2}),
        ("padata", core.Any, {"explicit": 3, "optional": True}),
        ("req-body", KdcReqBody, {"explicit": 4}),
    ]


class KdcRep(core.Sequence):
    _fields = [
        ("pvno", core.Integer, {"explicit": 0}),
        ("msg-type", core.Integer, {"explicit": 1}),
        ("padata", core.Any, {"explicit": 2, "optional": True}),
        ("crealm", KerberosString, {"explicit": 3}),
        ("cname", PrincipalName, {"explicit": 4}),
        ("ticket", core.Any, {"explicit": 5}),
        ("enc-part", core.Any, {"explicit": 6}),
    ]


class KrbError(core.Sequence):
    _fields = [
        ("pvno", core.Integer, {"explicit": 0}),
        ("msg-type", core.Integer, {"explicit": 1}),
        ("ctime", KerberosTime, {"explicit": 2, "optional": True}),
        ("cusec", core.Integer, {"explicit": 3, "optional": True}),
        ("stime", KerberosTime, {"explicit": 4}),
        ("susec", core.Integer, {"explicit": 5}),
        ("error-code", core.Integer, {"explicit": 6}),
        ("crealm", KerberosString, {"explicit": 7, "optional": True}),
        ("cname", PrincipalName, {"explicit": 8, "optional": True}),
        ("realm", KerberosString, {"explicit": 9}),
        ("sname", PrincipalName, {"explicit": 10}),
        ("e-text", core.GeneralString, {"explicit": 11, "optional": True}),
        ("e-data", core.OctetString, {"explicit": 12, "optional": True}),
    ]


class KerberosResponse(core.Choice):
    """What a KDC sends back: [APPLICATION 11] AS-REP, [APPLICATION 13] TGS-REP or
    [APPLICATION 30] KRB-ERROR."""

    _alternatives = [
        ("AS_REP", KdcRep, {"explicit": (1, 11)}),
        ("TGS_REP", KdcRep, {"explicit": (1, 13)}),
        ("KRB_ERROR", KrbError, {"explicit": (1, 30)}),
    ]


# RFC 4120 §7.5.9 (and RFC 6113 for 90-93): the error codes by number.
ERROR_NAMES = {
    0: "KDC_ERR_NONE", 1: "KDC_ERR_NAME_EXP", 2: "KDC_ERR_SERVICE_EXP",
    3: "KDC_ERR_BAD_PVNO", 4: "KDC_ERR_C_OLD_MAST_KVNO", 5: "KDC_ERR_S_OLD_MAST_KVNO",
    6: "KDC_ERR_C_PRINCIPAL_UNKNOWN", 7: "KDC_ERR_S_PRINCIPAL_UNKNOWN",
    8: "KDC_ERR_PRINCIPAL_NOT_UNIQUE", 9: "KDC_ERR_NULL_KEY", 10: "KDC_ERR_CANNOT_POSTDATE",
    11: "KDC_ERR_NEVER_VALID", 12: "KDC_ERR_POLICY", 13: "KDC_ERR_BADOPTION",
    14: "KDC_ERR_ETYPE_NOSUPP", 15: "KDC_ERR_SUMTYPE_NOSUPP", 16: "KDC_ERR_PADATA_TYPE_NOSUPP",
    17: "KDC_ERR_TRTYPE_NOSUPP", 18: "KDC_ERR_CLIENT_REVOKED", 19: "KDC_ERR_SERVICE_REVOKED",
    20: "KDC_ERR_TGT_REVOKED", 21: "KDC_ERR_CLIENT_NOTYET", 22: "KDC_ERR_SERVICE_NOTYET",
    23: "KDC_ERR_KEY_EXPIRED", 24: "KDC_ERR_PREAUTH_FAILED", 25: "KDC_ERR_PREAUTH_REQUIRED",
    26: "KDC_ERR_SERVER_NOMATCH", 27: "KDC_ERR_MUST_USE_USER2USER",
    28: "KDC_ERR_PATH_NOT_ACCEPTED", 29: "KDC_ERR_SVC_UNAVAILABLE",
    31: "KRB_AP_ERR_BAD_INTEGRITY", 32: "KRB_AP_ERR_TKT_EXPIRED", 33: "KRB_AP_ERR_TKT_NYV",
    34: "KRB_AP_ERR_REPEAT", 35: "KRB_AP_ERR_NOT_US", 36: "KRB_AP_ERR_BADMATCH",
    37: "KRB_AP_ERR_SKEW", 38: "KRB_AP_ERR_BADADDR", 39: "KRB_AP_ERR_BADVERSION",
    40: "KRB_AP_ERR_MSG_TYPE", 41: "KRB_AP_ERR_MODIFIED", 42: "KRB_AP_ERR_BADORDER",
    44: "KRB_AP_ERR_BADKEYVER", 45: "KRB_AP_ERR_NOKEY", 46: "KRB_AP_ERR_MUT_FAIL",
    47: "KRB_AP_ERR_BADDIRECTION", 48: "KRB_AP_ERR_METHOD", 49: "KRB_AP_ERR_BADSEQ",
    50: "KRB_AP_ERR_INAPP_CKSUM", 51: "KRB_AP_PATH_NOT_ACCEPTED",
    52: "KRB_ERR_RESPONSE_TOO_BIG", 60: "KRB_ERR_GENERIC", 61: "KRB_ERR_FIELD_TOOLONG",
    62: "KDC_ERROR_CLIENT_NOT_TRUSTED", 63: "KDC_ERROR_KDC_NOT_TRUSTED",
    64: "KDC_ERROR_INVALID_SIG", 65: "KDC_ERR_KEY_TOO_WEAK", 66: "KDC_ERR_CERTIFICATE_MISMATCH",
    67: "KRB_AP_ERR_NO_TGT", 68: "KDC_ERR_WRONG_REALM", 69: "KRB_AP_ERR_USER_TO_USER_REQUIRED",
    70: "KDC_ERR_CANT_VERIFY_CERTIFICATE", 71: "KDC_ERR_INVALID_CERTIFICATE",
    72: "KDC_ERR_REVOKED_CERTIFICATE", 73: "KDC_ERR_REVOCATION_STATUS_UNKNOWN",
    74: "KDC_ERR_REVOCATION_STATUS_UNAVAILABLE", 75: "KDC_ERR_CLIENT_NAME_MISMATCH",
    76: "KDC_ERR_KDC_NAME_MISMATCH", 90: "KDC_ERR_PREAUTH_EXPIRED",
    91: "KDC_ERR_MORE_PREAUTH_DATA_REQUIRED", 92: "KDC_ERR_PREAUTH_BAD_AUTHENTICATION_SET",
    93: "KDC_ERR_UNKNOWN_CRITICAL_FAST_OPTIONS",
}
