/*
 * tests/vectors/jwt/rfc_keys.h - the keys of the RFC examples as PEM, for the key ring's unit
 * test and fuzz target: RFC 8037 A.1 (Ed25519), RFC 7515 A.2 (RSA) and A.3 (P-256), made from
 * their JWKs with python3-cryptography (the signatures of the RFCs verify with them); and
 * keys the ring must refuse (RSA 1024, P-384, an encrypted Ed25519 key).
 *
 * Owns:     static const PEM strings; include from one .c file each.
 * Spec:     RFC 8037 A.1; RFC 7515 A.2, A.3; docs/keys.md.
 */
#ifndef AG_TESTS_RFC_KEYS_H
#define AG_TESTS_RFC_KEYS_H

static const char ED_PRIV[] __attribute__((unused)) =
    "-----BEGIN PRIVATE KEY-----\n"
    "MC4CAQAwBQYDK2VwBCIEIJ1hsZ3v/VpguoRK9JLsLMREScVpezJpGXA7rAMcrn9g\n"
    "-----END PRIVATE KEY-----\n";

static const char ED_PUB[] __attribute__((unused)) =
    "-----BEGIN PUBLIC KEY-----\n"
    "MCowBQYDK2VwAyEA11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=\n"
    "-----END PUBLIC KEY-----\n";

static const char ES_PRIV[] __attribute__((unused)) =
    "-----BEGIN PRIVATE KEY-----\n"
    "MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgjpsQnnGQmL+YBIff\n"
    "H1136cspYG6+0iY7X1fCE9+E9LKhRANCAAR/zc4ncPbEXUGDy+5v20t7WAczNXvp\n"
    "7xO6z248e9FURcfxRM0bvZt+hyzf7bnuufSzaV1uqQskrYpGIyiFiOWt\n"
    "-----END PRIVATE KEY-----\n";

static const char ES_PUB[] __attribute__((unused)) =
    "-----BEGIN PUBLIC KEY-----\n"
    "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEf83OJ3D2xF1Bg8vub9tLe1gHMzV7\n"
    "6e8Tus9uPHvRVEXH8UTNG72bfocs3+257rn0s2ldbqkLJK2KRiMohYjlrQ==\n"
    "-----END PUBLIC KEY-----\n";

static const char RS_PRIV[] __attribute__((unused)) =
    "-----BEGIN PRIVATE KEY-----\n"
    "MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQCh+BYK4uPJtGXO\n"
    "jS1lYmM2K5J9vinh8CR3/BYlzJChNuOL2TSXxbbqY913EeZ8dCn5VrD7io8ImtxL\n"
    "aYk8wTM/U+3QGbh3hCUv7JFP5IV3aVlL6kKA0ywPVb9ilE8TA5a8bpvfbr3SvaNn\n"
    "juygxmj3AbONv/s4yDQs4v5tJ/reSlpIdJed1LnPmt7Ex1sFhSwsD174pcF1A5L5\n"
    "ROjtZMEQxrZHYJqkeDrrnGya11UxMFBji4NmXG9veoKjlnAqH2QbgtPr8jkiGUkf\n"
    "toaHLFcW9Qr4NY2ai50Xw0Byj3+H2JoY2PyrZ62EWQwuz3WTOTY8BwNNb2BvniHg\n"
    "VFbK5emhAgMBAAECggEAEq5xpGnNCivDflJsRQBXHx1hdR1k6Ulwe2JZD50LpXyW\n"
    "PEAeP88vLNO97IjlA7/GQ5sLKMgvfTeXZx9SE+7YwVol2NXOoAJe46sui395IW/G\n"
    "O+pWJ1O0BkTGoVEn2bKVRUCgu+GjBVaYLU6f3l9kJfFNS3E0QbVdxzubSu3Mkqzj\n"
    "kn439X0M/V51gfpRLI9JYanrC4D4qAdGcopV/0ZHHzQlBjudU2QvXt4ehNYTCBr6\n"
    "XCLQUShb1juUO1ZdiYoFaFQT5Tw8bGUl/x/jTj3ccPDVZFD9pIuhLhBOneufuBiB\n"
    "4cS98l2SR/RQyGWSeWjnczT0QU91p1DhOVRuOopznQKBgQDgHMQQ60imZV1URk0K\n"
    "pLttoLhyt3SmqdEf/kgHePDdtzEafpAu+cS191R2JiuoF2yzWXnwFDcqGigp5BNr\n"
    "0AHQfD8/Lk8l1Mk09jxxCfui5nYooNyac8YFjm3vItzVCVDnEd3BbVWG8qf6deqE\n"
    "lMGAg+C2V0L4oNXnP7LZcPAZRwKBgQC5A8R+CZW2MvRTLLHzwZkUXV866cff7tx6\n"
    "kqa0finGG0KgeqlaZPxgCZnFp7AeAcCMtiynVlJ7vMVgePsLq6XtON4tB5kP9jAP\n"
    "rq3rbAOal78eUH5OcED6eNuCV8ixEu1eWcPNCS/l1OW1EnXUEoEHKl54Xrrz2uNw\n"
    "kgMTP1FZ1wKBgAcCn1dwJKufzBWQxWQp1vsM5fggqPN1qGb5y0MAk3g7/Ls5bkUp\n"
    "5u9SN0Ai3Ya6hNnvWJMb7sXQX6U/zyO2M/hTip7tUeh7CXgwo59dkpN75gJLVds2\n"
    "9+DAncu3KXU4f2Fa+7bLNrur53k8KwPOq2bbuTG69QtV7Jr5MR0AHWKNAoGBAIf/\n"
    "evpitUf+4JYbLpvNXWcY052Mpz22aR84mY3nh3F2LF2mjMJDpTg7FmuyPcVw6EcG\n"
    "yoAe9fa65iNqCq+jdw6PVNGo2hxfjSiZ8IIzHdsPXI89//pMjZcQK9r+CCoRjaZj\n"
    "OYiIDktVWZzmevJuv6WywUqd57LE3Zar3dLSIkx1AoGAIYd7DHOhrWvxkwPQsRM2\n"
    "tOgrjbcrfvtQJipd+DlcxyVuuM9sQLdgjVk2oy26F0EmpScGLq2MowX7fhd/QJQ3\n"
    "ydy5cY7YIBi87w93IKLEdfnbJtoOPLUW0ITrJReOgo1cq9SbsxYawBgfp/gh6A56\n"
    "03k2+ZQwVK0JKSHuLFkuQ3U=\n"
    "-----END PRIVATE KEY-----\n";

static const char RS_PUB[] __attribute__((unused)) =
    "-----BEGIN PUBLIC KEY-----\n"
    "MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAofgWCuLjybRlzo0tZWJj\n"
    "NiuSfb4p4fAkd/wWJcyQoTbji9k0l8W26mPddxHmfHQp+Vaw+4qPCJrcS2mJPMEz\n"
    "P1Pt0Bm4d4QlL+yRT+SFd2lZS+pCgNMsD1W/YpRPEwOWvG6b32690r2jZ47soMZo\n"
    "9wGzjb/7OMg0LOL+bSf63kpaSHSXndS5z5rexMdbBYUsLA9e+KXBdQOS+UTo7WTB\n"
    "EMa2R2CapHg665xsmtdVMTBQY4uDZlxvb3qCo5ZwKh9kG4LT6/I5IhlJH7aGhyxX\n"
    "FvUK+DWNmoudF8NAco9/h9iaGNj8q2ethFkMLs91kzk2PAcDTW9gb54h4FRWyuXp\n"
    "oQIDAQAB\n"
    "-----END PUBLIC KEY-----\n";

static const char RS1024[] __attribute__((unused)) =
    "-----BEGIN PRIVATE KEY-----\n"
    "MIICdgIBADANBgkqhkiG9w0BAQEFAASCAmAwggJcAgEAAoGBAKn4a3aJKFo6nT8t\n"
    "8yhy/iC/Pm9AQ6ImeUim3DRNNt5/eRZUYeiaEYPmHq4l4GkqibDDA/9Sb8xr3f64\n"
    "djj9cbxRjtVE1qmtsuo7Jwd4XeAFE6ml+UwpbNyHdLRD7kQ9dIgEDh2d8xLAAXn+\n"
    "lI6Omp7BDZQTBnna6XUlzEE6VMy9AgMBAAECgYBkrgXZvPzuFXI3jlxORW9Krn2p\n"
    "IIPvdKK66jvdry8lNJThKTKluT1Ox+y8cysuoEfXMG0ZvBcFG4/v5gwBTf8j+lUh\n"
    "AMYSnxGpDX4YoZH4gDJizYfZqpJp4cndrw6fb7Bg4Ouehf6dBmdjVE/PYuj1VEJK\n"
    "j/ebDonqq3AW49QXcQJBANgN9yA94aNryxvpAbihxS1uT9d5Uy1k+6293+SZkaD1\n"
    "jYUf4ZHkL1XDaf8qTtiL6gVQ2r+liFKpRsAzQbSBhUMCQQDJZUETKrxY20KvdQ9G\n"
    "D8NAqiiBpJB8Ed9l9+8xYMnw1ASXEDaaQVsxBoZpRrgwSqK1g7O+uTYTLZOgll8Q\n"
    "okX/AkA28vZTQOnOQnAZ3R0O9DXN5CxyRO0esnxAJ/Z1kYk0Qr+HiCA6lqpjSZv/\n"
    "xabf9FXEnFfGPjd5rovL/j1Lx1U5AkA6IpZkWAPCiph3WY0tJkOwmO3UbpKenfIk\n"
    "1ysez9e7QxiIGtAIOzF9t2p5XUax+fl5+Cict44afx+MTZvni1A1AkEAqdwjUsrz\n"
    "KVLDqmVKf3scmodao+G5oqYTu4yVNO7Wp2nShPlLh96bntyvDkMCBivKbcxjtaT3\n"
    "cXbBb05grTQ0GA==\n"
    "-----END PRIVATE KEY-----\n";

static const char P384[] __attribute__((unused)) =
    "-----BEGIN PRIVATE KEY-----\n"
    "MIG2AgEAMBAGByqGSM49AgEGBSuBBAAiBIGeMIGbAgEBBDB8lAsBBRzHoX0ASnl9\n"
    "nhIKMwOXGvD1utgF7I5wpv+1yhWJ1h0/+WI3R1idQoly2bqhZANiAAS8+nfQu0nk\n"
    "Lyvdj8MvSxMUUQHMmpQGU9j+SuE0b9RnIKCWcudL+XaPvIv9s2xYjkdH8EnpVPNh\n"
    "CEGZk8xxMkOyrmijCazm9lffCgSUR/VxWRmIlYmU0aezYq/xII5lo80=\n"
    "-----END PRIVATE KEY-----\n";

static const char ENC[] __attribute__((unused)) =
    "-----BEGIN ENCRYPTED PRIVATE KEY-----\n"
    "MIGbMFcGCSqGSIb3DQEFDTBKMCkGCSqGSIb3DQEFDDAcBAhcOQG4o1EwTgICCAAw\n"
    "DAYIKoZIhvcNAgkFADAdBglghkgBZQMEASoEEHc/l1XlNlInyZwCTy5Ak7YEQNhW\n"
    "eV9Mjr6LcMz86SD95BPGFBn45SjIQrhtihLsItHvM8QhW7gnEjN46RlfYCw7c3TX\n"
    "BX0C07BlhqXxypFErFY=\n"
    "-----END ENCRYPTED PRIVATE KEY-----\n";

#endif
