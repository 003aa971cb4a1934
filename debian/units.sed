# The repository's units (etc/systemd/) assume the tree in /opt/chat; the package's
# binaries are in /usr/bin, its data files in /usr/share/chat and its docs in
# /usr/share/doc/chat-server. debian/rules fails when a /opt/chat is left.
s|/opt/chat/build/release/|/usr/bin/|g
s|^WorkingDirectory=/opt/chat$|WorkingDirectory=/usr/share/chat|
s|^Documentation=file:/opt/chat/docs/DEPLOY.md$|Documentation=file:/usr/share/doc/chat-server/DEPLOY.md|
s|paths assume the tree in /opt/chat and|the chat-server package's paths, with|
