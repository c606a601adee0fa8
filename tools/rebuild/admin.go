package rebuild

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
)

// backup writes a consistent copy of the store of the server at base to w
// (GET /admin/backup), with the admin token.
func backup(ctx context.Context, base, token string, w io.Writer) error {
	resp, err := adminRequest(ctx, "GET", strings.TrimRight(base, "/")+"/admin/backup", token)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	bw := bufio.NewWriterSize(w, 1<<20)
	if _, err := io.Copy(bw, resp.Body); err != nil {
		return err
	}
	if resp.Trailer.Get("X-Duet-Seq") == "" {
		return errors.New("the backup was cut short")
	}
	return bw.Flush()
}

// Reload asks the server at base to load its newest snapshot (POST
// /admin/snapshots/reload), with the admin token.
func Reload(ctx context.Context, base, token string) error {
	resp, err := adminRequest(ctx, "POST", strings.TrimRight(base, "/")+"/admin/snapshots/reload", token)
	if err != nil {
		return err
	}
	resp.Body.Close()
	return nil
}

func adminRequest(ctx context.Context, method, url, token string) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, method, url, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		resp.Body.Close()
		return nil, fmt.Errorf("%s %s: %s: %s", method, url, resp.Status, strings.TrimSpace(string(b)))
	}
	return resp, nil
}
