-- Every accepted bid rewrites its invitation row (last bid id, sealed amount, time). With
-- room left on each page the new row version stays on the same page (a HOT update: no
-- new entries in the invitations indexes), which is most of what the update costs.
-- Applies to pages written from now on (new rounds' invitations).
ALTER TABLE invitations SET (fillfactor = 70);
