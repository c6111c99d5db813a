#ifndef OUTLINESTREAM_CCURL_H
#define OUTLINESTREAM_CCURL_H

#include <curl/curl.h>

// curl_easy_setopt and curl_easy_getinfo are variadic, which Swift cannot call:
// one typed wrapper per argument kind.
typedef size_t (*ccurl_data_callback)(char *data, size_t size, size_t count, void *context);

CURLcode ccurl_setopt_long(CURL *easy, CURLoption option, long value);
CURLcode ccurl_setopt_string(CURL *easy, CURLoption option, const char *value);
CURLcode ccurl_setopt_pointer(CURL *easy, CURLoption option, void *value);
CURLcode ccurl_setopt_slist(CURL *easy, CURLoption option, struct curl_slist *value);
CURLcode ccurl_setopt_off_t(CURL *easy, CURLoption option, curl_off_t value);
CURLcode ccurl_setopt_data_callback(CURL *easy, CURLoption option, ccurl_data_callback callback);
CURLcode ccurl_getinfo_long(CURL *easy, CURLINFO info, long *value);
CURLcode ccurl_getinfo_pointer(CURL *easy, CURLINFO info, void **value);
CURLMcode ccurl_multi_setopt_long(CURLM *multi, CURLMoption option, long value);
/// The result of a finished transfer (CURLMsg's `data` is a union).
CURLcode ccurl_message_result(CURLMsg *message);

#endif
