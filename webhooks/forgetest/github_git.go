package forgetest

import (
	"fmt"
	"net/http"
	"strings"
	"time"
)

// createTag answers POST /git/tags: an annotated tag object made with git
// mktag.
func (g *GitHub) createTag(r *http.Request, body []byte) reply {
	var req struct {
		Tag, Message, Object, Type *string
		Tagger                     *struct {
			Name, Email string
			Date        *time.Time
		}
	}
	if rep, ok := decode(body, &req, docTag); !ok {
		return rep
	}
	if msg := notSupplied(map[string]bool{"message": req.Message != nil, "object": req.Object != nil,
		"tag": req.Tag != nil, "type": req.Type != nil}); msg != "" {
		return invalid(docTag, msg)
	}
	if msg := notInEnum("type", *req.Type, "commit", "tree", "blob"); msg != "" {
		return invalid(docTag, msg)
	}
	name, email, date := "pkgserver-standin", "standin@example.com", time.Now()
	if t := req.Tagger; t != nil {
		name, email = t.Name, t.Email
		if t.Date != nil {
			date = *t.Date
		}
	}
	msg := *req.Message
	if !strings.HasSuffix(msg, "\n") {
		msg += "\n"
	}
	text := fmt.Sprintf("object %s\ntype %s\ntag %s\ntagger %s <%s> %d %s\n\n%s",
		*req.Object, *req.Type, *req.Tag, name, email, date.Unix(), date.Format("-0700"), msg)
	ctx := r.Context()
	if g.repo.objectType(ctx, *req.Object) == "" {
		return ghError(http.StatusUnprocessableEntity, "Object does not exist", docTag)
	}
	g.repo.write.Lock()
	sha, err := g.repo.git(ctx, text, "mktag")
	g.repo.write.Unlock()
	if err != nil {
		return invalid(docTag, err.Error())
	}
	return reply{status: http.StatusCreated, body: map[string]any{
		"node_id": "TAG_" + sha,
		"sha":     sha,
		"url":     g.repoURL() + "/git/tags/" + sha,
		"tag":     *req.Tag,
		"message": *req.Message,
		"tagger":  map[string]any{"name": name, "email": email, "date": date.UTC().Format(time.RFC3339)},
		"object":  g.object(*req.Type, *req.Object),
		"verification": map[string]any{
			"verified": false, "reason": "unsigned", "signature": nil, "payload": nil,
		},
	}}
}

func (g *GitHub) object(typ, sha string) map[string]any {
	return map[string]any{"type": typ, "sha": sha, "url": g.repoURL() + "/git/" + typ + "s/" + sha}
}

func (g *GitHub) createRef(r *http.Request, body []byte) reply {
	var req struct{ Ref, SHA *string }
	if rep, ok := decode(body, &req, docRef); !ok {
		return rep
	}
	if msg := notSupplied(map[string]bool{"ref": req.Ref != nil, "sha": req.SHA != nil}); msg != "" {
		return invalid(docRef, msg)
	}
	ref, sha, ctx := *req.Ref, *req.SHA, r.Context()
	if !strings.HasPrefix(ref, "refs/") || strings.Count(ref, "/") < 2 {
		return ghError(http.StatusUnprocessableEntity, "Reference name must contain at least three slash-separated components.", docRef)
	}
	if !g.repo.validRef(ctx, ref) {
		return ghError(http.StatusUnprocessableEntity, ref+" is not a valid ref name.", docRef)
	}
	typ := g.repo.objectType(ctx, sha)
	if typ == "" {
		return ghError(http.StatusUnprocessableEntity, "Object does not exist", docRef)
	}
	g.repo.write.Lock()
	defer g.repo.write.Unlock()
	if g.repo.refExists(ctx, ref) {
		return ghError(http.StatusUnprocessableEntity, "Reference already exists", docRef)
	}
	if _, err := g.repo.git(ctx, "", "update-ref", ref, sha, ""); err != nil {
		return ghError(http.StatusUnprocessableEntity, "Reference update failed", docRef)
	}
	return reply{status: http.StatusCreated, body: map[string]any{
		"ref":     ref,
		"node_id": "REF_" + ref,
		"url":     g.repoURL() + "/git/" + ref,
		"object":  g.object(typ, sha),
	}}
}
