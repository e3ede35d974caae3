"""Request signatures of the SMS provider (Aliyun RPC v1) and the DingTalk robot."""

from __future__ import annotations

import base64
import hashlib
import hmac
from urllib.parse import unquote_plus

from gateway.channels.dingtalk import sign
from gateway.channels.sms import percent, signature


def test_sms_signature_matches_the_providers_published_example() -> None:
    # the worked example of Aliyun's SendSms documentation (GET, secret "testSecret")
    params = {
        "AccessKeyId": "testId",
        "Action": "SendSms",
        "Format": "XML",
        "OutId": "123",
        "PhoneNumbers": "15300000001",
        "RegionId": "cn-hangzhou",
        "SignName": "阿里云短信测试专用",
        "SignatureMethod": "HMAC-SHA1",
        "SignatureNonce": "45e25e9b-0a6f-4070-8c85-2956eda1b466",
        "SignatureVersion": "1.0",
        "TemplateCode": "SMS_71390007",
        "TemplateParam": '{"customer":"test"}',
        "Timestamp": "2017-07-12T02:42:19Z",
        "Version": "2017-05-25",
    }

    assert signature("testSecret", params, "GET") == "zJDF+Lrzhj/ThnlvIToysFRq6t4="


def test_percent_encoding_is_rfc3986() -> None:
    assert percent("a b*c~d/e+f") == "a%20b%2Ac~d%2Fe%2Bf"
    assert percent("网格") == "%E7%BD%91%E6%A0%BC"


def test_dingtalk_sign_is_url_encoded_base64_hmac_sha256_of_timestamp_newline_secret() -> None:
    secret = "SEC-example"  # noqa: S105  # a test key
    mac = hmac.new(secret.encode(), b"1764046800000\nSEC-example", hashlib.sha256).digest()

    assert unquote_plus(sign(secret, 1764046800000)) == base64.b64encode(mac).decode()
    assert "+" not in sign(secret, 1764046800000)
    assert "/" not in sign(secret, 1764046800000)
