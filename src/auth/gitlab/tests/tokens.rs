//! Tests of airgate's own tokens: user access tokens minted and verified, the signing key file.

use super::*;

#[tokio::test]
async fn user_access_token_round_trip() {
    let gitlab = fake_gitlab().await;
    let dir = data_dir();
    let auth = auth(&dir, Some(&gitlab.url), FAST);
    let claims = gitlab_claims(&["complete_code", "duo_chat", "ai_gateway_model_provider_proxy"]);
    let caller = auth.verify(&rails_headers(&gitlab_token(&claims))).await.unwrap();
    let (token, expires_at) = auth.mint_user_token(&caller).unwrap();
    assert!(expires_at.abs_diff(now_secs() + 3600) < 60);

    let minted: Value = jsonwebtoken::dangerous::insecure_decode::<Value>(&token).unwrap().claims;
    assert_eq!(
        (minted["iss"].as_str(), minted["aud"].as_str(), minted["sub"].as_str()),
        (Some(OWN_ISSUER), Some(AUDIENCE), Some(USER))
    );
    assert_eq!((minted["gitlab_realm"].as_str(), minted["gitlab_instance_id"].as_str()), (Some(REALM), Some(INSTANCE)));
    assert_eq!(minted["gitlab_instance_uid"].as_str(), Some(INSTANCE), "self-managed extra claim (§2.4)");
    assert_eq!(minted["scopes"], json!(["complete_code", "ai_gateway_model_provider_proxy"]));
    assert_eq!((minted["exp"].as_u64(), &minted["iat"]), (Some(expires_at), &minted["nbf"]));
    assert!(minted["jti"].as_str().is_some_and(|j| j.len() == 36));

    // The IDE replays the public X-Gitlab-* headers: sub is checked against the global user id.
    let p = auth.verify(&rails_headers(&token)).await.unwrap();
    assert!(p.gateway_issued && p.has_scope("complete_code") && !p.has_scope("duo_chat"));
    assert_eq!((p.subject.as_str(), p.issuer.as_str(), p.global_user_id.as_deref()), (USER, OWN_ISSUER, Some(USER)));
    assert_eq!((p.realm.as_deref(), p.instance_id.as_deref()), (Some(REALM), Some(INSTANCE)));
    assert_eq!(p.instance_uid.as_deref(), Some(INSTANCE));
    // The caller's own `gitlab_instance_uid` claim is passed on; other realms get none.
    let (uid, saas) = (Some("uid-1".to_string()), Some("saas".to_string()));
    for (who, want) in [
        (Principal { instance_uid: uid, ..caller.clone() }, Some("uid-1")),
        (Principal { realm: saas, ..caller.clone() }, None),
    ] {
        let claims =
            jsonwebtoken::dangerous::insecure_decode::<Value>(&auth.mint_user_token(&who).unwrap().0).unwrap().claims;
        assert_eq!(claims["gitlab_instance_uid"].as_str(), want);
    }
    let user_mismatch = format!("Header mismatch '{GLOBAL_USER_ID_HEADER}'");
    assert_eq!(outcome(&auth, &with(rails_headers(&token), GLOBAL_USER_ID_HEADER, Some("778"))).await, user_mismatch);
    assert_eq!(outcome(&auth, &with(rails_headers(&token), GLOBAL_USER_ID_HEADER, None)).await, user_mismatch);
    // Without a GitLab URL airgate still accepts its own tokens.
    assert!(self::auth(&dir, None, FAST).verify(&rails_headers(&token)).await.unwrap().gateway_issued);

    // No token from a token; no token without a scope for it or without a user id.
    assert!(matches!(auth.mint_user_token(&p), Err(AuthError::Unauthorized(_))));
    let chat_only = Principal { scopes: BTreeSet::from(["duo_chat".to_string()]), ..caller.clone() };
    assert!(auth.mint_user_token(&chat_only).is_err());
    assert!(auth.mint_user_token(&Principal { global_user_id: None, ..caller.clone() }).is_err());

    // A GitLab-signed token claiming airgate as issuer is not gateway-issued: sub must be the instance.
    let mut fake = gitlab_claims(&["complete_code"]);
    fake["iss"] = json!(OWN_ISSUER);
    let p = auth.verify(&rails_headers(&gitlab_token(&fake))).await.unwrap();
    assert!(!p.gateway_issued && p.issuer == OWN_ISSUER);
    fake["sub"] = json!(USER);
    assert_eq!(
        outcome(&auth, &rails_headers(&gitlab_token(&fake))).await,
        format!("Header mismatch '{INSTANCE_ID_HEADER}'")
    );
}

#[tokio::test]
async fn signing_key_is_generated_once_and_persisted() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("fresh/data"); // created if missing
    let first = GitlabAuth::new(&data, None, false).unwrap();
    let path = data.join(keys::KEY_FILE);
    let meta = std::fs::metadata(&path).unwrap();
    assert_eq!(meta.permissions().mode() & 0o777, 0o600);
    assert!(std::fs::read_to_string(&path).unwrap().starts_with("-----BEGIN RSA PRIVATE KEY-----"));
    let leftovers: Vec<_> = std::fs::read_dir(&data).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(leftovers, [keys::KEY_FILE], "no temporary files left behind");

    let caller = bypass_principal(&rails_headers("x"));
    let (token, _) = first.mint_user_token(&caller).unwrap();
    let second = GitlabAuth::new(&data, None, false).unwrap();
    assert_eq!(second.own.kid, first.own.kid);
    assert!(second.verify(&rails_headers(&token)).await.unwrap().gateway_issued);
    assert_eq!(std::fs::metadata(&path).unwrap().modified().unwrap(), meta.modified().unwrap(), "not rewritten");

    // Another data dir has another key: its tokens are not accepted here.
    let other = auth(&data_dir(), None, FAST);
    assert_ne!(other.own.kid, first.own.kid);
    assert_eq!(outcome(&other, &rails_headers(&token)).await, FORBIDDEN);
}

#[test]
fn signing_key_files_in_other_forms() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(keys::KEY_FILE);
    let pkcs8 = airgate_key().private.to_pkcs8_pem(LineEnding::LF).unwrap();
    std::fs::write(&path, pkcs8.as_bytes()).unwrap();
    let from_pkcs8 = GitlabAuth::new(dir.path(), None, false).unwrap();
    assert_eq!(from_pkcs8.own.kid, auth(&data_dir(), None, FAST).own.kid, "same key, same kid");

    let garbage = "-----BEGIN RSA PRIVATE KEY-----\nc2VjcmV0LWdhcmJhZ2U=\n-----END RSA PRIVATE KEY-----\n";
    std::fs::write(&path, garbage).unwrap();
    let err = GitlabAuth::new(dir.path(), None, false).unwrap_err();
    assert!(matches!(err, AuthError::Setup(_)) && err.to_string().contains(keys::KEY_FILE), "{err}");
    assert!(!err.to_string().contains("c2VjcmV0"), "{err}");
    std::fs::remove_file(&path).unwrap();
    std::fs::create_dir(&path).unwrap(); // unreadable as a file
    assert!(matches!(GitlabAuth::new(dir.path(), None, false), Err(AuthError::Setup(_))));
}
