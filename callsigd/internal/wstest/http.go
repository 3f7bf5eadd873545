package wstest

import (
	"io"
	"net/http"
	"testing"
)

// Get fetches url and returns the status code and the body; a request
// that fails fails the test.
func Get(t testing.TB, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}
