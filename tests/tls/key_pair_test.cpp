// Reading a TLS Secret's entries: base64 as Kubernetes and people write it, PEM chains and keys,
// and a message for each way they go wrong.

#include "tls/key_pair.hpp"

#include <gtest/gtest.h>

#include <string>

#include "test_pki.hpp"

namespace portico::tls {
namespace {

using namespace test_pki;

std::string decode_problem(std::string_view text) {
  std::string problem;
  EXPECT_FALSE(decode_base64(text, &problem).has_value()) << text;
  return problem;
}

TEST(DecodeBase64, DecodesTheStandardAlphabet) {
  EXPECT_EQ(decode_base64(""), "");
  EXPECT_EQ(decode_base64("TQ=="), "M");
  EXPECT_EQ(decode_base64("TWE="), "Ma");
  EXPECT_EQ(decode_base64("TWFu"), "Man");
  EXPECT_EQ(decode_base64("+/+/"), std::string("\xfb\xff\xbf", 3));
  std::string all;
  for (int i = 0; i < 256; ++i) all.push_back(static_cast<char>(i));
  EXPECT_EQ(decode_base64(base64(all)), all);
}

TEST(DecodeBase64, IgnoresWhitespaceAnywhere) {
  std::string text(2000, 'x');
  EXPECT_EQ(decode_base64(base64(text, 76, "\n")), text);
  EXPECT_EQ(decode_base64(base64(text, 64, "\r\n")), text);
  EXPECT_EQ(decode_base64("  T W\tF u\r\n  TQ\n==\n"), "ManM");
}

TEST(DecodeBase64, AcceptsMissingPadding) {
  EXPECT_EQ(decode_base64("TQ"), "M");
  EXPECT_EQ(decode_base64("TWE"), "Ma");
}

TEST(DecodeBase64, RejectsWhatNoEncoderWrites) {
  EXPECT_NE(decode_problem("TW!u").find("'!' at offset 2"), std::string::npos);
  EXPECT_NE(decode_problem("TW\x01u").find("byte 0x01"), std::string::npos);
  EXPECT_NE(decode_problem("TQ==TWFu").find("before the end"), std::string::npos);
  EXPECT_NE(decode_problem("TWFuT").find("length"), std::string::npos);
  EXPECT_NE(decode_problem("TWFu===").find("padding"), std::string::npos);
  EXPECT_NE(decode_problem("TWE==").find("padding"), std::string::npos);
  decode_problem("TWFu-_");  // base64url is not what `data` holds
}

class ReadKeyPairTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    rsa_ = new Identity(make_identity(KeyType::kRsa, "rsa.example.com", {"rsa.example.com"}));
    ec_ = new Identity(make_identity(KeyType::kEcdsa, "ec.example.com", {"ec.example.com"}));
  }
  static void TearDownTestSuite() {
    delete rsa_;
    delete ec_;
  }
  static KeyPairResult read_base64(const std::string& crt, const std::string& key) {
    return read_key_pair(base64(crt), base64(key), true);
  }
  static Identity* rsa_;
  static Identity* ec_;
};

Identity* ReadKeyPairTest::rsa_ = nullptr;
Identity* ReadKeyPairTest::ec_ = nullptr;

TEST_F(ReadKeyPairTest, ReadsRsaAndEcPairs) {
  for (const Identity* id : {rsa_, ec_}) {
    KeyPairResult result = read_base64(id->cert_pem, id->key_pem);
    ASSERT_TRUE(result.ok()) << result.error;
    EXPECT_EQ(X509_cmp(result.pair.leaf.get(), id->cert.get()), 0);
    EXPECT_TRUE(result.pair.intermediates.empty());
    EXPECT_EQ(EVP_PKEY_eq(result.pair.key.get(), id->key.get()), 1);
  }
}

TEST_F(ReadKeyPairTest, ReadsPemAsIsFromStringData) {
  KeyPairResult result = read_key_pair(ec_->cert_pem, ec_->key_pem, false);
  ASSERT_TRUE(result.ok()) << result.error;
}

TEST_F(ReadKeyPairTest, ReadsTheChainInOrderAndSkipsOtherBlocks) {
  std::string chain =
      rsa_->cert_pem + "\n# a comment between blocks\n" + ec_->cert_pem + rsa_->cert_pem;
  KeyPairResult result = read_base64(ec_->key_pem + chain, rsa_->key_pem);
  ASSERT_TRUE(result.ok()) << result.error;
  EXPECT_EQ(X509_cmp(result.pair.leaf.get(), rsa_->cert.get()), 0);
  ASSERT_EQ(result.pair.intermediates.size(), 2u);
  EXPECT_EQ(X509_cmp(result.pair.intermediates[0].get(), ec_->cert.get()), 0);
}

TEST_F(ReadKeyPairTest, ReadsLegacyRsaKeys) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  ASSERT_EQ(PEM_write_bio_PrivateKey_traditional(bio.get(), rsa_->key.get(), nullptr, nullptr, 0,
                                                 nullptr, nullptr),
            1);
  std::string legacy = bio_text(bio.get());
  ASSERT_NE(legacy.find("BEGIN RSA PRIVATE KEY"), std::string::npos);
  KeyPairResult result = read_base64(rsa_->cert_pem, legacy);
  EXPECT_TRUE(result.ok()) << result.error;
}

TEST_F(ReadKeyPairTest, SaysWhatIsWrongAndWhatIsAccepted) {
  struct Case {
    const char* name;
    std::string crt;
    std::string key;
    bool base64;
    KeyPairField field;
    std::string message;
  };
  std::string truncated = rsa_->cert_pem.substr(0, rsa_->cert_pem.size() / 2);
  std::string der_cert;
  {
    unsigned char* der = nullptr;
    int length = i2d_X509(rsa_->cert.get(), &der);
    der_cert.assign(reinterpret_cast<char*>(der), static_cast<std::size_t>(length));
    OPENSSL_free(der);
  }
  const std::vector<Case> cases = {
      {"not base64", "@@@@", base64(rsa_->key_pem), true, KeyPairField::kCertificate,
       "is not valid base64 ('@' at offset 0 is not a base64 character); accepted: a PEM "
       "certificate chain, "
       "base64-encoded in data"},
      {"PEM where base64 belongs", rsa_->cert_pem, base64(rsa_->key_pem), true,
       KeyPairField::kCertificate, "holds PEM text, not base64"},
      {"whitespace only", base64("  \n"), base64(rsa_->key_pem), true, KeyPairField::kCertificate,
       "is empty"},
      {"swapped", base64(rsa_->key_pem), base64(rsa_->cert_pem), true, KeyPairField::kCertificate,
       "are tls.crt and tls.key swapped?"},
      {"DER", base64(der_cert), base64(rsa_->key_pem), true, KeyPairField::kCertificate,
       "holds DER, not PEM"},
      {"truncated", base64(truncated), base64(rsa_->key_pem), true, KeyPairField::kCertificate,
       "does not parse"},
      {"second block corrupt", base64(rsa_->cert_pem + truncated), base64(rsa_->key_pem), true,
       KeyPairField::kCertificate, "(number 2 in the chain) that does not parse"},
      {"key missing", base64(rsa_->cert_pem), "", true, KeyPairField::kKey,
       "is empty; accepted: an unencrypted PEM private key"},
      {"key is a certificate", base64(rsa_->cert_pem), base64(ec_->cert_pem), true,
       KeyPairField::kKey, "holds a certificate but no private key"},
      {"key corrupt", base64(rsa_->cert_pem),
       base64("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"), true,
       KeyPairField::kKey, "holds a private key that does not parse"},
      {"encrypted key", base64(rsa_->cert_pem), base64(to_encrypted_pem(rsa_->key.get())), true,
       KeyPairField::kKey, "encrypted private key"},
      {"other key", base64(rsa_->cert_pem), base64(ec_->key_pem), true, KeyPairField::kKey,
       "does not belong to the first certificate of tls.crt"},
      {"stringData garbage", "garbage", ec_->key_pem, false, KeyPairField::kCertificate,
       "holds no PEM CERTIFICATE block; accepted: a PEM certificate chain as text in stringData"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    KeyPairResult result = read_key_pair(c.crt, c.key, c.base64);
    EXPECT_FALSE(result.ok());
    EXPECT_EQ(result.field, c.field);
    EXPECT_NE(result.error.find(c.message), std::string::npos) << result.error;
    EXPECT_FALSE(result.pair.leaf);
    EXPECT_FALSE(result.pair.key);
    EXPECT_EQ(ERR_peek_error(), 0u);
  }
}

}  // namespace
}  // namespace portico::tls
